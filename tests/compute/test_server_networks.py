"""A server placed on the network asked for (``networks: [{"uuid": ...}]``, with the
``fixed_ip`` asked for or not), on the port asked for (``[{"port": ...}]``), or on its
project's only network, or its default one made on first use; Nova's errors for a
network or port it cannot use or several networks it could mean."""

from __future__ import annotations

import ipaddress
from typing import Any

from tests.compute.conftest import Plane

V2 = "/network/v2.0"


def neutron(plane: Plane, kind: str, body: dict[str, Any], who: str = "alice") -> Any:
    resp = plane.client.post(f"{V2}/{kind}s", json={kind: body},
                             headers={"X-Auth-Token": plane.token(who)})
    assert resp.status_code == 201, resp.text
    return resp.json()[kind]


def fixed_address(server: dict[str, Any], label: str) -> str:
    assert list(server["addresses"]) == [label], server["addresses"]
    (entry,) = server["addresses"][label]
    return str(entry["addr"])


def refused(plane: Plane, networks: Any, code: int, message: str, who: str = "alice") -> None:
    resp = plane.call("POST", "/servers", who, json={"server": {
        "name": "no", "imageRef": plane.image_id, "flavorRef": "1", "networks": networks}})
    assert resp.status_code == code, resp.text
    assert message in resp.text, resp.text


def test_a_server_goes_on_the_network_asked_for(plane: Plane) -> None:
    blue = neutron(plane, "network", {"name": "blue"})
    refused(plane, [{"uuid": blue["id"]}], 400,
            f"Network {blue['id']} requires a subnet in order to boot instances on.")
    neutron(plane, "subnet", {"network_id": blue["id"], "cidr": "192.168.77.0/24"})
    server = plane.create(networks=[{"uuid": blue["id"]}])
    address = ipaddress.IPv4Address(fixed_address(server, "blue"))
    assert address in ipaddress.IPv4Network("192.168.77.0/24")
    # the project's only network is taken when none is asked for
    other = plane.create(networks="auto", name="vm2")
    assert ipaddress.IPv4Address(fixed_address(other, "blue")) in \
        ipaddress.IPv4Network("192.168.77.0/24")
    # a second network: now the project must say which
    green = neutron(plane, "network", {"name": "green"})
    neutron(plane, "subnet", {"network_id": green["id"], "cidr": "192.168.77.0/24"})
    refused(plane, "auto", 409, "Multiple possible networks found, use a Network ID to be "
            "more specific.")
    third = plane.create(networks=[{"uuid": green["id"]}], name="vm3")
    assert fixed_address(third, "green").startswith("192.168.77.")
    ports = plane.client.get(f"{V2}/ports", headers={"X-Auth-Token": plane.token("alice")},
                             params={"network_id": green["id"]}).json()["ports"]
    assert [p["device_id"] for p in ports] == [third["id"]]
    # in use: the network stays
    resp = plane.client.delete(f"{V2}/networks/{green['id']}",
                               headers={"X-Auth-Token": plane.token("alice")})
    assert resp.status_code == 409 and "NetworkInUse" in resp.text


def test_networks_a_server_cannot_use(plane: Plane) -> None:
    theirs = neutron(plane, "network", {"name": "bobs"}, "bob")
    neutron(plane, "subnet", {"network_id": theirs["id"], "cidr": "10.9.0.0/24"}, "bob")
    refused(plane, [{"uuid": theirs["id"]}], 400, f"Network {theirs['id']} could not be "
            "found.")
    refused(plane, [{"uuid": "nope"}], 400, "Network nope could not be found.")
    mine = neutron(plane, "network", {"name": "mine"})
    neutron(plane, "subnet", {"network_id": mine["id"], "cidr": "10.9.0.0/24"})
    refused(plane, [{"uuid": mine["id"]}, {"uuid": mine["id"]}], 400, "one network")
    refused(plane, [{"uuid": mine["id"], "fixed_ip": "10.8.0.9"}], 400,
            "not in the allocation pools")
    refused(plane, [{"uuid": mine["id"], "fixed_ip": "10.9.0.1"}], 400,
            "not in the allocation pools")
    refused(plane, [{"uuid": mine["id"], "fixed_ip": "ten"}], 400, "Invalid fixed IP")
    refused(plane, [{"port": "nope"}], 400, "Port nope could not be found.")
    bobs = neutron(plane, "port", {"network_id": theirs["id"]}, "bob")
    refused(plane, [{"port": bobs["id"]}], 400, f"Port {bobs['id']} could not be found.")
    bare = neutron(plane, "port", {"network_id": mine["id"], "fixed_ips": []})
    refused(plane, [{"port": bare["id"]}], 400, "requires a FixedIP")


def test_a_shared_network_takes_any_projects_servers(plane: Plane) -> None:
    shared = neutron(plane, "network", {"name": "commons", "shared": True}, "admin")
    neutron(plane, "subnet", {"network_id": shared["id"], "cidr": "10.77.0.0/24"}, "admin")
    server = plane.create("bob", networks=[{"uuid": shared["id"]}])
    assert fixed_address(server, "commons").startswith("10.77.0.")
    # bob has no network of his own: his default one is made when none is asked for
    default = plane.create("bob", networks="auto", name="vm2")
    assert fixed_address(default, "lan").startswith("10.")


def test_a_port_on_a_shared_network_is_its_servers_projects(plane: Plane) -> None:
    shared = neutron(plane, "network", {"name": "commons", "shared": True}, "admin")
    neutron(plane, "subnet", {"network_id": shared["id"], "cidr": "10.78.0.0/24"}, "admin")
    server = plane.create("bob", networks=[{"uuid": shared["id"]}])

    def ports(who: str) -> list[str]:
        return [p["device_id"] for p in plane.client.get(
            f"{V2}/ports", headers={"X-Auth-Token": plane.token(who)},
            params={"network_id": shared["id"]}).json()["ports"]]
    assert ports("bob") == [server["id"]]
    assert ports("alice") == []


def port_of(plane: Plane, port_id: str) -> dict[str, Any]:
    resp = plane.client.get(f"{V2}/ports/{port_id}",
                            headers={"X-Auth-Token": plane.token("alice")})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()["port"]
    return body


def test_a_server_on_the_port_or_address_asked_for(plane: Plane) -> None:
    mine = neutron(plane, "network", {"name": "mine"})
    sub = neutron(plane, "subnet", {"network_id": mine["id"], "cidr": "10.9.0.0/24"})
    port = neutron(plane, "port", {"network_id": mine["id"], "fixed_ips": [
        {"subnet_id": sub["id"], "ip_address": "10.9.0.77"}]})
    assert port_of(plane, port["id"])["status"] == "DOWN"
    server = plane.create(networks=[{"port": port["id"]}])
    assert fixed_address(server, "mine") == "10.9.0.77"
    (entry,) = server["addresses"]["mine"]
    assert entry["OS-EXT-IPS-MAC:mac_addr"] == port["mac_address"]
    bound = port_of(plane, port["id"])
    assert (bound["device_id"], bound["device_owner"], bound["status"]) == (
        server["id"], "compute:nova", "ACTIVE")
    refused(plane, [{"port": port["id"]}], 409, f"Port {port['id']} is still in use.")
    # the port follows its server: DOWN while stopped, ACTIVE while running; the host it
    # is plugged on is shown to admins
    host = plane.show(server["id"], "admin")["OS-EXT-SRV-ATTR:host"]
    resp = plane.client.get(f"{V2}/ports/{port['id']}",
                            headers={"X-Auth-Token": plane.token("admin")})
    assert resp.json()["port"]["binding:host_id"] == host and host
    for action, status, state in (("os-stop", "SHUTOFF", "DOWN"),
                                  ("os-start", "ACTIVE", "ACTIVE")):
        assert plane.call("POST", f"/servers/{server['id']}/action",
                          json={action: None}).status_code == 202
        plane.wait(server["id"], status)
        assert port_of(plane, port["id"])["status"] == state

    other = plane.create(networks=[{"uuid": mine["id"], "fixed_ip": "10.9.0.50"}],
                         name="vm2")
    assert fixed_address(other, "mine") == "10.9.0.50"
    refused(plane, [{"uuid": mine["id"], "fixed_ip": "10.9.0.50"}], 400, "already in use")
    made = plane.client.get(f"{V2}/ports", headers={"X-Auth-Token": plane.token("alice")},
                            params={"device_id": other["id"]}).json()["ports"]
    assert [p["fixed_ips"][0]["ip_address"] for p in made] == ["10.9.0.50"]

    # deleting the servers: the port made by compute goes, the one made by the user stays
    for gone in (server, other):
        assert plane.call("DELETE", f"/servers/{gone['id']}").status_code == 204
        plane.wait_gone(gone["id"])
    kept = port_of(plane, port["id"])
    assert (kept["device_id"], kept["device_owner"], kept["status"], kept["fixed_ips"]) == (
        "", "", "DOWN", [{"subnet_id": sub["id"], "ip_address": "10.9.0.77"}])
    resp = plane.client.get(f"{V2}/ports/{made[0]['id']}",
                            headers={"X-Auth-Token": plane.token("alice")})
    assert resp.status_code == 404, resp.text
    again = plane.create(networks=[{"port": port["id"]}], name="vm3")
    assert fixed_address(again, "mine") == "10.9.0.77"
