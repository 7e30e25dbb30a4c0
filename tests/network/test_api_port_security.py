"""A port's security through the network API against a whole control plane: the groups,
port security and address pairs of a server's port are what its host is told to
enforce (a ``refresh_network`` cast to that host), a server's group actions change its
port's groups, and a subnet's DHCP, name servers and host routes reach the hosts of the
servers on it. Refusals are Neutron's."""

from __future__ import annotations

from typing import Any

from labs.network.instance_spec import InstancePort
from tests.compute.conftest import Plane
from tests.network.api_helpers import error
from tests.network.test_api_floatingips import neutron, ok, port_of, public_id


def enforced(plane: Plane, server_id: str) -> InstancePort:
    """What the server's host is given when it refreshes the server's network."""
    return InstancePort.from_message(plane.conductor.network_specs([server_id])[server_id])


def group(plane: Plane, name: str, who: str = "alice") -> dict[str, Any]:
    made: dict[str, Any] = ok(plane, "POST", "/security-groups", who, json={
        "security_group": {"name": name}})["security_group"]
    return made


def set_port(plane: Plane, port_id: str, who: str = "alice", **changes: Any) -> Any:
    return neutron(plane, "PUT", f"/ports/{port_id}", who, json={"port": changes})


def test_the_host_enforces_the_ports_groups_security_and_pairs(
        plane: Plane, casts: list[tuple[str, list[str]]]) -> None:
    web = group(plane, "web")
    ok(plane, "POST", "/security-group-rules", json={"security_group_rule": {
        "security_group_id": web["id"], "direction": "ingress", "protocol": "tcp",
        "port_range_min": 8080, "port_range_max": 8080}})
    server = plane.create(networks="auto")
    sid = server["id"]
    host = plane.show(sid, "admin")["OS-EXT-SRV-ATTR:host"]
    port = port_of(plane, sid)
    before = enforced(plane, sid).security
    assert before.enabled and any(r.remote_group == "default" for r in before.rules)

    casts.clear()
    resp = set_port(plane, port["id"], security_groups=[web["id"]])
    assert resp.status_code == 200, resp.text
    assert casts == [(host, [sid])]
    rules = enforced(plane, sid).security.rules
    assert any(r.port_min == 8080 for r in rules)
    assert not any(r.remote_group == "default" for r in rules)

    casts.clear()
    assert set_port(plane, port["id"], security_groups=[]).status_code == 200
    assert casts == [(host, [sid])]
    nothing = enforced(plane, sid).security
    assert nothing.enabled and all(r.direction == "egress" for r in nothing.rules)

    resp = set_port(plane, port["id"], allowed_address_pairs=[
        {"ip_address": "10.0.0.0/24"}, {"ip_address": "10.1.0.7",
                                         "mac_address": "fa:16:3e:00:00:07"}])
    assert resp.status_code == 200, resp.text
    pairs = enforced(plane, sid).security.allowed_pairs
    assert [(p.ip, p.mac) for p in pairs] == [("10.0.0.0/24", None),
                                              ("10.1.0.7/32", "fa:16:3e:00:00:07")]

    casts.clear()
    resp = set_port(plane, port["id"], port_security_enabled=False,
                    allowed_address_pairs=[])
    assert resp.status_code == 200, resp.text
    assert casts == [(host, [sid])]
    assert not enforced(plane, sid).security.enabled
    casts.clear()
    assert set_port(plane, port["id"], name="renamed").status_code == 200
    assert casts == []  # nothing a host enforces changed


def test_a_servers_group_actions_change_its_ports_groups(plane: Plane) -> None:
    web = group(plane, "web")
    server = plane.create(networks="auto")
    sid = server["id"]
    (default,) = ok(plane, "GET", "/security-groups", params={"name": "default"})[
        "security_groups"]
    assert port_of(plane, sid)["security_groups"] == [default["id"]]
    resp = plane.call("POST", f"/servers/{sid}/action", version="2.35",
                      json={"addSecurityGroup": {"name": "web"}})
    assert resp.status_code == 202, resp.text
    assert port_of(plane, sid)["security_groups"] == [default["id"], web["id"]]
    resp = plane.call("POST", f"/servers/{sid}/action", version="2.35",
                      json={"removeSecurityGroup": {"name": "default"}})
    assert resp.status_code == 202, resp.text
    assert port_of(plane, sid)["security_groups"] == [web["id"]]
    assert {r.remote_group for r in enforced(plane, sid).security.rules} == {None}


def test_port_security_refusals_are_neutrons(plane: Plane) -> None:
    server = plane.create(networks="auto")
    port = port_of(plane, server["id"])
    bobs = group(plane, "bobs", "bob")
    resp = set_port(plane, port["id"], security_groups=[bobs["id"]])
    assert resp.status_code == 404 and "NeutronError" in resp.json(), resp.text
    error(set_port(plane, port["id"], port_security_enabled=False), 409,
          "PortSecurityPortHasSecurityGroup")
    error(set_port(plane, port["id"], port_security_enabled=False,
                   security_groups=port["security_groups"]), 400,
          "PortSecurityAndIPRequiredForSecurityGroups")
    for pair in ({"ip_address": "300.1.1.1"}, {"ip_address": "fe80::1"},
                 {"ip_address": "10.0.0.1", "mac_address": "01:00:5e:00:00:01"}):
        error(set_port(plane, port["id"], allowed_address_pairs=[pair]), 400,
              "InvalidInput")
    for pairs in ([{"mac_address": "fa:16:3e:00:00:01"}], [{"ip_address": 5}], "x"):
        error(set_port(plane, port["id"], allowed_address_pairs=pairs), 400,
              "HTTPBadRequest")
    assert set_port(plane, port["id"], port_security_enabled=False,
                    security_groups=[]).status_code == 200
    error(set_port(plane, port["id"], allowed_address_pairs=[{"ip_address": "10.0.0.9"}]),
          409, "AddressPairAndPortSecurityRequired")
    error(set_port(plane, port["id"], security_groups=[bobs["id"]]), 400,
          "PortSecurityAndIPRequiredForSecurityGroups")


def test_subnet_changes_reach_the_hosts_of_its_servers(
        plane: Plane, casts: list[tuple[str, list[str]]]) -> None:
    server = plane.create(networks="auto")
    sid = server["id"]
    host = plane.show(sid, "admin")["OS-EXT-SRV-ATTR:host"]
    subnet_id = port_of(plane, sid)["fixed_ips"][0]["subnet_id"]
    cidr = ok(plane, "GET", f"/subnets/{subnet_id}")["subnet"]["cidr"]
    base = cidr.rsplit(".", 1)[0]
    route = {"destination": "192.168.50.0/24", "nexthop": f"{base}.9"}
    casts.clear()
    resp = neutron(plane, "PUT", f"/subnets/{subnet_id}", json={"subnet": {
        "dns_nameservers": ["9.9.9.9"], "host_routes": [route]}})
    assert resp.status_code == 200, resp.text
    assert casts == [(host, [sid])]
    spec = enforced(plane, sid).network_spec()
    assert (spec.dns_servers, spec.host_routes) == (("9.9.9.9",),
                                                    (("192.168.50.0/24", f"{base}.9"),))
    casts.clear()
    assert neutron(plane, "PUT", f"/subnets/{subnet_id}", json={"subnet": {
        "enable_dhcp": False}}).status_code == 200
    assert casts == [(host, [sid])] and enforced(plane, sid).dhcp is False
    casts.clear()
    assert neutron(plane, "PUT", f"/subnets/{subnet_id}", json={"subnet": {
        "name": "quiet"}}).status_code == 200
    assert casts == []
    for bad in ({"destination": "192.168.50.0/24", "nexthop": "10.250.0.1"},
                {"destination": "192.168.50.0/24", "nexthop": cidr.split("/")[0]},
                {"destination": "192.168.50.1/24", "nexthop": f"{base}.9"}):
        resp = neutron(plane, "PUT", f"/subnets/{subnet_id}", json={"subnet": {
            "host_routes": [bad]}})
        assert resp.status_code == 400 and "NeutronError" in resp.json(), resp.text
    assert casts == []


def test_a_group_a_port_is_in_cannot_go(plane: Plane) -> None:
    web = group(plane, "web")
    network_id = port_of(plane, plane.create(networks="auto")["id"])["network_id"]
    made = ok(plane, "POST", "/ports", json={"port": {"network_id": network_id,
                                                      "security_groups": [web["id"]]}})
    error(neutron(plane, "DELETE", f"/security-groups/{web['id']}"), 409,
          "SecurityGroupInUse")
    assert set_port(plane, made["port"]["id"], security_groups=[]).status_code == 200
    assert neutron(plane, "DELETE", f"/security-groups/{web['id']}").status_code == 204


def test_each_nic_of_a_server_has_its_own_ports_security(plane: Plane) -> None:
    nets = []
    for name, cidr in (("blue", "10.31.0.0/24"), ("green", "10.32.0.0/24")):
        made = ok(plane, "POST", "/networks", json={"network": {"name": name}})["network"]
        ok(plane, "POST", "/subnets", json={"subnet": {"network_id": made["id"],
                                                       "cidr": cidr, "ip_version": 4}})
        nets.append(made["id"])
    server = plane.create(networks=[{"uuid": nets[0]}, {"uuid": nets[1]}])
    sid = server["id"]
    ports = {p["network_id"]: p for p in ok(plane, "GET", "/ports", params={
        "device_id": sid})["ports"]}
    assert set_port(plane, ports[nets[1]]["id"], port_security_enabled=False,
                    security_groups=[]).status_code == 200
    message = plane.conductor.network_specs([sid])[sid]
    nics = [InstancePort.from_message(m) for m in message["ports"]]
    assert [(n.network_id, n.security.enabled) for n in nics] == [(nets[0], True),
                                                                 (nets[1], False)]


def test_a_port_naming_another_projects_server_as_its_device_is_not_its_port(
        plane: Plane, casts: list[tuple[str, list[str]]]) -> None:
    """Neutron lets a project write any ``device_id`` on its port: that binds it to no
    server, so another project's server's group actions leave it alone, and deleting it
    tells that server's host nothing."""
    web = group(plane, "web")
    cidr = "10.61.0.0/24"
    blue = ok(plane, "POST", "/networks", json={"network": {"name": "blue"}})["network"]
    sub = ok(plane, "POST", "/subnets", json={"subnet": {
        "network_id": blue["id"], "cidr": cidr}})["subnet"]
    rid = ok(plane, "POST", "/routers", json={"router": {
        "name": "r", "external_gateway_info": {"network_id": public_id(plane)}}})[
        "router"]["id"]
    ok(plane, "PUT", f"/routers/{rid}/add_router_interface", json={"subnet_id": sub["id"]})
    sid = plane.create(networks=[{"uuid": blue["id"]}])["id"]
    mine = port_of(plane, sid)
    fip = ok(plane, "POST", "/floatingips", json={"floatingip": {
        "floating_network_id": public_id(plane), "port_id": mine["id"]}})["floatingip"]
    (fixed,) = mine["fixed_ips"]
    bobs_net = ok(plane, "POST", "/networks", "bob", json={"network": {"name": "b"}})
    bobs_sub = ok(plane, "POST", "/subnets", "bob", json={"subnet": {
        "network_id": bobs_net["network"]["id"], "cidr": cidr, "ip_version": 4}})
    forged = ok(plane, "POST", "/ports", "bob", json={"port": {  # alice's address too
        "network_id": bobs_net["network"]["id"], "device_id": sid,
        "device_owner": "compute:nova", "fixed_ips": [{
            "subnet_id": bobs_sub["subnet"]["id"], "ip_address": fixed["ip_address"]}]}})[
        "port"]
    resp = plane.call("POST", f"/servers/{sid}/action", version="2.35",
                      json={"addSecurityGroup": {"name": "web"}})
    assert resp.status_code == 202, resp.text
    after = ok(plane, "GET", f"/ports/{forged['id']}", "bob")["port"]
    assert web["id"] not in after["security_groups"]
    assert after["security_groups"] == forged["security_groups"]
    casts.clear()
    assert neutron(plane, "DELETE", f"/ports/{forged['id']}", "bob").status_code == 204
    assert casts == []
    # alice's floating IP stays on her server's address
    after = ok(plane, "GET", f"/floatingips/{fip['id']}")["floatingip"]
    assert after["port_id"] == mine["id"]
