"""Routers through the network API (on SQLite and MariaDB): made with and without a
gateway on the external network, subnets joined and taken off, changed and deleted; the
auto router of a project's default network; another project's routers unseen and
untouchable, readers' writes refused, bad input a Neutron 4xx."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from labs.network.routers import auto_interface_id, auto_router_id
from labs.network.topology import subnet_id_of
from tests.network.api_helpers import Net, error, net_fixture  # noqa: F401
from tests.network.test_api_network_writes import made


def router(net: Net, body: dict[str, Any], who: str = "alice") -> dict[str, Any]:
    return made(net, "router", body, who)


def subnet(net: Net, cidr: str, who: str = "alice") -> dict[str, Any]:
    network = made(net, "network", {"name": f"n-{cidr}"}, who)
    return made(net, "subnet", {"network_id": network["id"], "cidr": cidr}, who)


def interface(net: Net, router_id: str, action: str, body: Any,
              who: str = "alice") -> Any:
    return net.call("PUT", f"/routers/{router_id}/{action}_router_interface", who, json=body)


def test_a_default_network_has_a_router_of_its_own(net: Net) -> None:
    own = net.networks["a"]
    (shown,) = net.ok("/routers")["routers"]
    assert shown["id"] == auto_router_id(own.id) and shown["name"] == "lan-router"
    assert shown["project_id"] == shown["tenant_id"] == net.projects["a"]
    external = net.service.topology.external()
    assert shown["external_gateway_info"] == {
        "network_id": external.id, "enable_snat": True,
        "external_fixed_ips": [{"subnet_id": external.subnet_ids[0],
                                "ip_address": own.external_ip}]}
    assert (shown["status"], shown["admin_state_up"]) == ("ACTIVE", True)
    # its subnet is on it: taking it off twice, the second time is a 404
    gone = interface(net, shown["id"], "remove", {"subnet_id": subnet_id_of(own.id)})
    assert gone.status_code == 200, gone.text
    assert gone.json()["port_id"] == auto_interface_id(subnet_id_of(own.id))
    error(interface(net, shown["id"], "remove", {"subnet_id": subnet_id_of(own.id)}), 404,
          "RouterInterfaceNotFoundForSubnet")


def test_a_router_joins_subnets_and_goes_once_they_are_off(net: Net) -> None:
    external = net.service.topology.external()
    made_router = router(net, {"name": "r1", "external_gateway_info": {
        "network_id": external.id}})
    address = made_router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    taken = {net.networks[p].external_ip for p in ("a", "b")}
    assert address.startswith("172.24.4.") and address not in taken
    one, two = subnet(net, "10.1.0.0/24"), subnet(net, "10.2.0.0/24")
    for sub in (one, two):
        resp = interface(net, made_router["id"], "add", {"subnet_id": sub["id"]})
        assert resp.status_code == 200, resp.text
        assert resp.json() | {"port_id": None} == {
            "id": made_router["id"], "project_id": net.projects["a"],
            "tenant_id": net.projects["a"], "port_id": None, "subnet_id": sub["id"],
            "subnet_ids": [sub["id"]], "network_id": sub["network_id"]}
    error(net.call("DELETE", f"/routers/{made_router['id']}"), 409, "RouterInUse")
    error(net.call("DELETE", f"/subnets/{one['id']}"), 409, "SubnetInUse")
    error(net.call("DELETE", f"/networks/{one['network_id']}"), 409, "NetworkInUse")
    # the same subnet again, an overlapping one, one on another router
    body = error(interface(net, made_router["id"], "add", {"subnet_id": one["id"]}), 400,
                 "BadRequest")
    assert "already has a port" in body["message"]
    overlapping = subnet(net, "10.1.0.0/25")
    body = error(interface(net, made_router["id"], "add", {"subnet_id": overlapping["id"]}),
                 400, "BadRequest")
    assert "overlaps with cidr 10.1.0.0/24" in body["message"]
    other = router(net, {"name": "r2"})
    assert other["external_gateway_info"] is None
    error(interface(net, other["id"], "add", {"subnet_id": one["id"]}), 409,
          "IpAddressInUse")
    assert interface(net, other["id"], "add", {"subnet_id": overlapping["id"]}
                     ).status_code == 200  # on another router, overlapping is fine
    for sub in (one, two):
        assert interface(net, made_router["id"], "remove",
                         {"subnet_id": sub["id"]}).status_code == 200
    assert net.call("DELETE", f"/routers/{made_router['id']}").status_code == 204
    error(net.call("GET", f"/routers/{made_router['id']}"), 404, "RouterNotFound")
    again = router(net, {"external_gateway_info": {"network_id": external.id}})
    assert again["external_gateway_info"]["external_fixed_ips"][0]["ip_address"] == address


def test_a_gateway_is_set_changed_and_cleared(net: Net) -> None:
    external = net.service.topology.external()
    made_router = router(net, {"name": "r"})
    resp = net.call("PUT", f"/routers/{made_router['id']}", json={"router": {
        "name": "edge", "description": "d", "admin_state_up": False,
        "external_gateway_info": {"network_id": external.id}}})
    assert resp.status_code == 200, resp.text
    shown = resp.json()["router"]
    assert (shown["name"], shown["description"], shown["admin_state_up"],
            shown["revision_number"]) == ("edge", "d", False, 1)
    assert shown["external_gateway_info"]["network_id"] == external.id
    assert net.ok("/routers", name="edge", admin_state_up="false")["routers"][0][
        "id"] == made_router["id"]
    resp = net.call("PUT", f"/routers/{made_router['id']}", json={"router": {
        "external_gateway_info": {}}})
    assert resp.json()["router"]["external_gateway_info"] is None


def test_bad_input_is_a_neutron_4xx(net: Net) -> None:
    external = net.service.topology.external()
    rid = router(net, {"name": "r"})["id"]
    mine = net.networks["a"]
    cases: list[tuple[str, str, Any, int, str]] = [
        ("POST", "/routers", {"router": {"name": "x", "color": "red"}}, 400,
         "HTTPBadRequest"),
        ("POST", "/routers", {"router": {"external_gateway_info": {
            "network_id": mine.id}}}, 400, "HTTPBadRequest"),
        ("POST", "/routers", {"router": {"external_gateway_info": {
            "network_id": "nope"}}}, 404, "NetworkNotFound"),
        ("POST", "/routers", {"router": {"external_gateway_info": {
            "network_id": external.id, "enable_snat": False}}}, 400, "HTTPBadRequest"),
        ("POST", "/routers", {"router": {"external_gateway_info": {
            "network_id": external.id, "external_fixed_ips": [
                {"ip_address": "172.24.4.200"}]}}}, 400, "HTTPBadRequest"),
        ("POST", "/routers", {"router": {"external_gateway_info": {
            "enable_snat": True}}}, 400, "HTTPBadRequest"),
        ("POST", "/routers", {"router": {"project_id": net.projects["b"]}}, 400,
         "HTTPBadRequest"),
        ("POST", "/routers", {"router": {"name": 7}}, 400, "HTTPBadRequest"),
        ("PUT", f"/routers/{rid}", {"router": {"id": "x"}}, 400, "HTTPBadRequest"),
        ("PUT", f"/routers/{rid}/add_router_interface", {"subnet_id": "nope"}, 404,
         "SubnetNotFound"),
        ("PUT", f"/routers/{rid}/add_router_interface",
         {"subnet_id": external.subnet_ids[0]}, 404, "SubnetNotFound"),
        ("PUT", f"/routers/{rid}/add_router_interface", {}, 400, "HTTPBadRequest"),
        ("PUT", f"/routers/{rid}/add_router_interface", {"port_id": "p"}, 400,
         "HTTPBadRequest"),
        ("PUT", f"/routers/{rid}/add_router_interface", {"port_id": "p", "subnet_id": "s"},
         400, "HTTPBadRequest"),
        ("PUT", f"/routers/{rid}/add_router_interface", {"subnet": "s"}, 400,
         "HTTPBadRequest"),
        ("PUT", f"/routers/{rid}/remove_router_interface", {"subnet_id": "nope"}, 404,
         "RouterInterfaceNotFoundForSubnet"),
        ("PUT", f"/routers/{rid}/remove_router_interface", {"port_id": "p"}, 404,
         "RouterInterfaceNotFound"),
        ("PUT", "/routers/nope/add_router_interface", {"subnet_id": "s"}, 404,
         "RouterNotFound"),
        ("GET", "/routers?color=red", None, 400, "HTTPBadRequest"),
    ]
    for method, path, body, code, kind in cases:
        error(net.call(method, path, json=body), code, kind)


def test_another_projects_routers_are_unseen_and_untouchable(net: Net) -> None:
    theirs = router(net, {"name": "bobs"}, "bob")
    mine = subnet(net, "10.5.0.0/24")
    for who in ("alice", "ann"):
        assert theirs["id"] not in [r["id"] for r in net.ok("/routers", who)["routers"]]
        error(net.call("GET", f"/routers/{theirs['id']}", who), 404, "RouterNotFound")
        error(net.call("PUT", f"/routers/{theirs['id']}", who, json={"router": {
            "name": "x"}}), 404, "RouterNotFound")
        error(net.call("DELETE", f"/routers/{theirs['id']}", who), 404, "RouterNotFound")
        error(interface(net, theirs["id"], "add", {"subnet_id": mine["id"]}, who), 404,
              "RouterNotFound")
    # a subnet of another project's network is not found for one's own router
    bobs_subnet = subnet(net, "10.6.0.0/24", "bob")
    error(interface(net, router(net, {})["id"], "add", {"subnet_id": bobs_subnet["id"]}),
          404, "SubnetNotFound")
    error(interface(net, theirs["id"], "add", {"subnet_id": mine["id"]}, "bob"), 404,
          "SubnetNotFound")
    # admins see and change every project's
    assert theirs["id"] in [r["id"] for r in net.ok("/routers", "admin")["routers"]]
    assert net.call("PUT", f"/routers/{theirs['id']}", "admin", json={"router": {
        "name": "renamed"}}).status_code == 200


def test_a_reader_may_look_but_not_change(net: Net) -> None:
    rid = router(net, {"name": "r"})["id"]
    mine = subnet(net, "10.7.0.0/24")
    assert net.ok(f"/routers/{rid}", "ann")["router"]["name"] == "r"
    for method, path, body in (
            ("POST", "/routers", {"router": {"name": "x"}}),
            ("PUT", f"/routers/{rid}", {"router": {"name": "x"}}),
            ("DELETE", f"/routers/{rid}", None),
            ("PUT", f"/routers/{rid}/add_router_interface", {"subnet_id": mine["id"]}),
            ("PUT", f"/routers/{rid}/remove_router_interface", {"subnet_id": mine["id"]})):
        error(net.call(method, path, "ann", json=body), 403, "PolicyNotAuthorized")
    error(net.call("GET", "/routers", None), 401, "HTTPUnauthorized")


def test_routers_count_against_the_quota(net: Net) -> None:
    resp = net.call("PUT", f"/quotas/{net.projects['c']}", "admin", json={"quota": {
        "router": 1}})
    assert resp.status_code == 200, resp.text
    net.cloud.user("cy", "pw", {"c": "member"})
    token = net.cloud.token("cy", "pw", "c")
    headers = {"X-Auth-Token": token}
    first = net.client.post("/network/v2.0/routers", headers=headers,
                            json={"router": {"name": "one"}})
    assert first.status_code == 201, first.text
    error(net.client.post("/network/v2.0/routers", headers=headers,
                          json={"router": {"name": "two"}}), 409, "OverQuota")
    used = net.client.get(f"/network/v2.0/quotas/{net.projects['c']}/details",
                          headers=headers).json()["quota"]["router"]
    assert (used["used"], used["limit"]) == (1, 1)


def test_routers_made_at_once_get_addresses_of_their_own(net: Net) -> None:
    external = net.service.topology.external().id
    body = {"router": {"external_gateway_info": {"network_id": external}}}
    token = net.token("alice")
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda _: net.client.post(
            "/network/v2.0/routers", json=body, headers={"X-Auth-Token": token}), range(6)))
    assert [r.status_code for r in replies] == [201] * 6, [r.text for r in replies]
    addresses = [r.json()["router"]["external_gateway_info"]["external_fixed_ips"][0][
        "ip_address"] for r in replies]
    taken = {net.networks[p].external_ip for p in ("a", "b")}
    assert len(set(addresses)) == 6 and not set(addresses) & taken


def test_a_routers_interfaces_are_listed_as_its_ports(net: Net) -> None:
    """As openstacksdk's ``list_router_interfaces`` finds them (``?device_id=``); the
    port an interface shows as takes it off the router."""
    made_router = router(net, {"name": "r1"})
    sub = subnet(net, "10.1.0.0/24")
    joined = interface(net, made_router["id"], "add", {"subnet_id": sub["id"]}).json()
    (port,) = net.ok("/ports", device_id=made_router["id"])["ports"]
    assert (port["id"], port["device_owner"], port["network_id"], port["status"]) == (
        joined["port_id"], "network:router_interface", sub["network_id"], "ACTIVE")
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": sub["gateway_ip"]}]
    assert port["project_id"] == net.projects["a"]
    assert net.ok("/ports", device_id=made_router["id"],
                  device_owner="compute:nova")["ports"] == []
    assert net.ok("/ports", "bob", device_id=made_router["id"])["ports"] == []
    gone = interface(net, made_router["id"], "remove", {"port_id": port["id"]})
    assert gone.status_code == 200, gone.text
    assert gone.json()["subnet_id"] == sub["id"]
    assert net.ok("/ports", device_id=made_router["id"])["ports"] == []
    assert net.call("DELETE", f"/routers/{made_router['id']}").status_code == 204
