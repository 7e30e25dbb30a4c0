"""Several NICs per server: one per network or port asked for, in order (at most
MAX_PORTS), and os-interface: a server's interfaces listed, shown, attached (a port of
its project's, or one made on a network) and detached, with Nova's shapes and codes;
other projects see none of it, readers may only look."""

from __future__ import annotations

from typing import Any

from labs.common.bus import BusTimeout
from labs.common.errors import Conflict
from labs.compute.virt.fake import FakeDriver
from labs.network.instance_ports import InstancePorts
from labs.network.instance_spec import MAX_PORTS
from tests.compute.conftest import Plane
from tests.compute.test_server_networks import V2, neutron, port_of, refused


def network(plane: Plane, name: str, cidr: str, who: str = "alice") -> tuple[str, str]:
    """A network with a subnet: (network id, subnet id)."""
    net = neutron(plane, "network", {"name": name}, who)
    sub = neutron(plane, "subnet", {"network_id": net["id"], "cidr": cidr}, who)
    return net["id"], sub["id"]


def fake_nics(plane: Plane, server: dict[str, Any]) -> list[str]:
    """The ports of the server's NICs in its fake VM (the first goes by the server's id)."""
    host = plane.show(server["id"], "admin")["OS-EXT-SRV-ATTR:host"]
    driver = plane.agents[host].driver
    assert isinstance(driver, FakeDriver)
    return driver.nics(server["id"])


def interfaces(plane: Plane, server_id: str, who: str = "alice") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = plane.ok(
        "GET", f"/servers/{server_id}/os-interface", who)["interfaceAttachments"]
    return found


def attach(plane: Plane, server_id: str, body: dict[str, Any], code: int = 200,
           who: str = "alice") -> Any:
    resp = plane.call("POST", f"/servers/{server_id}/os-interface", who,
                      json={"interfaceAttachment": body})
    assert resp.status_code == code, resp.text
    return resp.json()


def test_a_server_gets_one_nic_per_network_or_port_in_order(plane: Plane) -> None:
    blue, _ = network(plane, "blue", "10.31.0.0/24")
    green, green_sub = network(plane, "green", "10.32.0.0/24")
    red, _ = network(plane, "red", "10.33.0.0/24")
    port = neutron(plane, "port", {"network_id": green, "fixed_ips": [
        {"subnet_id": green_sub, "ip_address": "10.32.0.50"}]})
    server = plane.create(networks=[{"uuid": blue}, {"port": port["id"]},
                                    {"uuid": red, "fixed_ip": "10.33.0.9"}])
    addresses = server["addresses"]
    assert list(addresses) == ["blue", "green", "red"]
    assert addresses["green"][0]["addr"] == "10.32.0.50"
    assert addresses["red"][0]["addr"] == "10.33.0.9"
    assert addresses["blue"][0]["addr"].startswith("10.31.0.")
    listed = interfaces(plane, server["id"])
    assert [i["net_id"] for i in listed] == [blue, green, red]
    assert listed[1]["port_id"] == port["id"]
    assert [i["port_state"] for i in listed] == ["ACTIVE"] * 3
    # the VM has one NIC per port, in the same order (the first goes by the server's id)
    assert fake_nics(plane, server) == [server["id"], port["id"], listed[2]["port_id"]]
    # deleting the server: the port made for it goes, the project's own stays, unbound
    plane.ok("DELETE", f"/servers/{server['id']}")
    plane.wait_gone(server["id"])
    assert port_of(plane, port["id"])["device_id"] == ""
    gone = plane.client.get(f"{V2}/ports/{listed[2]['port_id']}",
                            headers={"X-Auth-Token": plane.token("alice")})
    assert gone.status_code == 404


def test_too_many_nics_and_the_same_network_twice_are_refused(plane: Plane) -> None:
    blue, _ = network(plane, "blue", "10.31.0.0/24")
    refused(plane, [{"uuid": blue}] * (MAX_PORTS + 1), 400,
            f"at most {MAX_PORTS} network interfaces")
    refused(plane, [{"uuid": blue}, {"uuid": blue}], 400, "asked for twice")
    port = neutron(plane, "port", {"network_id": blue})
    resp = plane.call("POST", "/servers", json={"server": {
        "name": "two", "imageRef": plane.image_id, "flavorRef": "1", "max_count": 2,
        "networks": [{"port": port["id"]}]}})
    assert resp.status_code == 400 and "one by one" in resp.text, resp.text


def test_interfaces_are_listed_attached_and_detached(plane: Plane) -> None:
    blue, _ = network(plane, "blue", "10.31.0.0/24")
    green, green_sub = network(plane, "green", "10.32.0.0/24")
    red, _ = network(plane, "red", "10.33.0.0/24")
    server = plane.create(networks=[{"uuid": blue}])
    sid = server["id"]
    (first,) = interfaces(plane, sid)
    assert set(first) == {"port_state", "fixed_ips", "port_id", "net_id", "mac_addr", "tag"}
    assert first["mac_addr"] == server["addresses"]["blue"][0]["OS-EXT-IPS-MAC:mac_addr"]
    shown = plane.ok("GET", f"/servers/{sid}/os-interface/{first['port_id']}")
    assert shown == {"interfaceAttachment": first}
    # a port of the project's: attached, then detached (it stays, unbound)
    port = neutron(plane, "port", {"network_id": green, "fixed_ips": [
        {"subnet_id": green_sub, "ip_address": "10.32.0.7"}]})
    made = attach(plane, sid, {"port_id": port["id"]})["interfaceAttachment"]
    assert (made["port_id"], made["net_id"], made["port_state"]) == (
        port["id"], green, "ACTIVE")
    assert made["fixed_ips"] == [{"subnet_id": green_sub, "ip_address": "10.32.0.7"}]
    assert list(plane.show(sid)["addresses"]) == ["blue", "green"]
    assert fake_nics(plane, server) == [sid, port["id"]]
    # a network: compute makes the port, on the address asked for
    on_red = attach(plane, sid, {"net_id": red, "fixed_ips": [
        {"ip_address": "10.33.0.44"}]})["interfaceAttachment"]
    assert on_red["fixed_ips"][0]["ip_address"] == "10.33.0.44"
    assert [i["port_id"] for i in interfaces(plane, sid)] == [
        first["port_id"], port["id"], on_red["port_id"]]
    assert plane.call("DELETE", f"/servers/{sid}/os-interface/{port['id']}").status_code \
        == 202
    assert fake_nics(plane, server) == [sid, on_red["port_id"]]
    assert port_of(plane, port["id"])["device_id"] == ""
    assert list(plane.show(sid)["addresses"]) == ["blue", "red"]
    assert plane.call("DELETE", f"/servers/{sid}/os-interface/{on_red['port_id']}"
                      ).status_code == 202
    assert plane.client.get(f"{V2}/ports/{on_red['port_id']}", headers={
        "X-Auth-Token": plane.token("alice")}).status_code == 404
    assert [i["port_id"] for i in interfaces(plane, sid)] == [first["port_id"]]
    assert fake_nics(plane, server) == [sid]
    # the address of a detached port made by compute is free again; the port is gone
    assert plane.call("GET", f"/servers/{sid}/os-interface/{on_red['port_id']}"
                      ).status_code == 404
    assert plane.call("DELETE", f"/servers/{sid}/os-interface/{on_red['port_id']}"
                      ).status_code == 404


def test_attach_refusals(plane: Plane) -> None:
    blue, _ = network(plane, "blue", "10.31.0.0/24")
    green, _ = network(plane, "green", "10.32.0.0/24")
    theirs, _ = network(plane, "theirs", "10.40.0.0/24", "bob")
    server = plane.create(networks=[{"uuid": blue}])
    other = plane.create(networks=[{"uuid": green}], name="other")
    sid = server["id"]
    bobs_port = neutron(plane, "port", {"network_id": theirs}, "bob")
    assert "could not be found" in str(attach(plane, sid, {"port_id": bobs_port["id"]}, 404))
    assert "could not be found" in str(attach(plane, sid, {"net_id": theirs}, 404))
    held = interfaces(plane, other["id"])[0]["port_id"]
    assert "still in use" in str(attach(plane, sid, {"port_id": held}, 409))
    assert "already" in str(attach(plane, sid, {"net_id": blue}, 409))
    attach(plane, sid, {"net_id": green, "port_id": held}, 400)
    attach(plane, sid, {"fixed_ips": [{"ip_address": "10.32.0.9"}]}, 400)
    attach(plane, sid, {"net_id": green, "fixed_ips": [{"ip_address": "nine"}]}, 400)
    attach(plane, sid, {"network": green}, 400)
    resp = plane.call("POST", f"/servers/{sid}/os-interface", json={"net_id": green})
    assert resp.status_code == 400, resp.text
    assert len(interfaces(plane, sid)) == 1


def test_interfaces_follow_roles_and_projects(plane: Plane) -> None:
    blue, _ = network(plane, "blue", "10.31.0.0/24")
    green, _ = network(plane, "green", "10.32.0.0/24")
    server = plane.create(networks=[{"uuid": blue}])
    sid = server["id"]
    port_id = interfaces(plane, sid)[0]["port_id"]
    # a reader looks, and may not change
    assert len(interfaces(plane, sid, "ann")) == 1
    attach(plane, sid, {"net_id": green}, 403, who="ann")
    assert plane.call("DELETE", f"/servers/{sid}/os-interface/{port_id}", "ann"
                      ).status_code == 403
    # another project sees no such server
    for method, path in (("GET", f"/servers/{sid}/os-interface"),
                         ("GET", f"/servers/{sid}/os-interface/{port_id}"),
                         ("DELETE", f"/servers/{sid}/os-interface/{port_id}")):
        assert plane.call(method, path, "bob").status_code == 404, (method, path)
    attach(plane, sid, {"net_id": green}, 404, who="bob")
    assert len(interfaces(plane, sid)) == 1
    # an admin sees and changes any project's
    attach(plane, sid, {"net_id": green}, 200, who="admin")
    assert len(interfaces(plane, sid)) == 2


def test_a_stopped_server_takes_an_interface_and_has_it_at_start(plane: Plane) -> None:
    blue, _ = network(plane, "blue", "10.31.0.0/24")
    green, _ = network(plane, "green", "10.32.0.0/24")
    server = plane.create(networks=[{"uuid": blue}])
    sid = server["id"]
    plane.ok("POST", f"/servers/{sid}/action", json={"os-stop": None})
    plane.wait(sid, "SHUTOFF")
    made = attach(plane, sid, {"net_id": green})["interfaceAttachment"]
    plane.ok("POST", f"/servers/{sid}/action", json={"os-start": None})
    plane.wait(sid, "ACTIVE")
    assert fake_nics(plane, server) == [sid, made["port_id"]]
    assert {i["port_state"] for i in interfaces(plane, sid)} == {"ACTIVE"}


def test_an_interface_made_on_a_network_counts_against_the_port_quota(
        plane: Plane) -> None:
    blue, _ = network(plane, "blue", "10.31.0.0/24")
    green, _ = network(plane, "green", "10.32.0.0/24")
    red, _ = network(plane, "red", "10.33.0.0/24")
    server = plane.create(networks=[{"uuid": blue}])
    sid = server["id"]
    mine = neutron(plane, "port", {"network_id": red})
    project = mine["project_id"]
    used = len(plane.client.get(f"{V2}/ports", headers={
        "X-Auth-Token": plane.token("alice")}).json()["ports"])
    resp = plane.client.put(f"{V2}/quotas/{project}", headers={
        "X-Auth-Token": plane.token("admin")}, json={"quota": {"port": used}})
    assert resp.status_code == 200, resp.text
    # Nova's 403 PortLimitExceeded: no port made, the server keeps its one interface
    assert "Maximum number of ports exceeded" in str(attach(plane, sid, {"net_id": green},
                                                            403))
    assert len(interfaces(plane, sid)) == 1
    # a port the project already has takes no more of the quota
    attach(plane, sid, {"port_id": mine["id"]})
    assert len(interfaces(plane, sid)) == 2


def test_no_chosen_address_on_another_projects_network(plane: Plane) -> None:
    """As Neutron's ``create_port:fixed_ips:ip_address``: only the network's owner (or
    an admin) picks an address on it; on a shared one, another project takes the next
    free one."""
    shared = neutron(plane, "network", {"name": "commons", "shared": True}, "admin")
    neutron(plane, "subnet", {"network_id": shared["id"], "cidr": "10.77.0.0/24"}, "admin")
    refused(plane, [{"uuid": shared["id"], "fixed_ip": "10.77.0.9"}], 403,
            "fixed IP on network")
    blue, _ = network(plane, "blue", "10.31.0.0/24")
    server = plane.create(networks=[{"uuid": blue}])
    assert "fixed IP on network" in str(attach(plane, server["id"], {
        "net_id": shared["id"], "fixed_ips": [{"ip_address": "10.77.0.9"}]}, 403))
    assert len(interfaces(plane, server["id"])) == 1
    got = attach(plane, server["id"], {"net_id": shared["id"]})["interfaceAttachment"]
    assert got["fixed_ips"][0]["ip_address"] != "10.77.0.9"


def test_a_new_servers_ports_count_against_the_port_quota(plane: Plane) -> None:
    blue, _ = network(plane, "blue", "10.31.0.0/24")
    green, _ = network(plane, "green", "10.32.0.0/24")
    mine = neutron(plane, "port", {"network_id": green})
    resp = plane.client.put(f"{V2}/quotas/{mine['project_id']}", headers={
        "X-Auth-Token": plane.token("admin")}, json={"quota": {"port": 2}})
    assert resp.status_code == 200, resp.text
    # one port is left: a server asking for two networks needs two
    refused(plane, [{"uuid": blue}, {"uuid": green}], 403,
            "Maximum number of ports exceeded")
    # a port the project has takes none more
    server = plane.create(networks=[{"uuid": blue}, {"port": mine["id"]}])
    assert len(interfaces(plane, server["id"])) == 2


def test_a_build_whose_second_nic_fails_keeps_no_port(plane: Plane,
                                                      monkeypatch: Any) -> None:
    """The conductor gives a server all its NICs or none: one that cannot have its
    second ends in ERROR holding no address of its first."""
    blue, _ = network(plane, "blue", "10.31.0.0/24")
    green, _ = network(plane, "green", "10.32.0.0/24")
    real = InstancePorts.allocate

    def second_fails(self: InstancePorts, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("nic_index"):
            raise Conflict("Fixed IP address 10.32.0.9 is already in use.")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(InstancePorts, "allocate", second_fails)
    server = plane.create(networks=[{"uuid": blue}, {"uuid": green}], wait="ERROR")
    held = plane.client.get(f"{V2}/ports", headers={"X-Auth-Token": plane.token("alice")},
                            params={"device_id": server["id"]}).json()["ports"]
    assert held == []


def test_an_attach_that_times_out_leaves_no_nic(plane: Plane, monkeypatch: Any) -> None:
    """The host may still give the VM its NIC after the API gave up waiting (and gave
    the port's address back): it is asked to take it away again."""
    blue, _ = network(plane, "blue", "10.31.0.0/24")
    green, _ = network(plane, "green", "10.32.0.0/24")
    server = plane.create(networks=[{"uuid": blue}])
    agents = plane.service.servers.agents
    real = agents.attach_interface

    def slow(host: str, instance_id: str, port: dict[str, Any], timeout: float = 90.0
             ) -> None:
        real(host, instance_id, port, timeout)  # done, but after the caller gave up
        raise BusTimeout("no answer within 90 s")

    monkeypatch.setattr(agents, "attach_interface", slow)
    attach(plane, server["id"], {"net_id": green}, 500)
    assert len(interfaces(plane, server["id"])) == 1
    assert fake_nics(plane, server) == [server["id"]]
