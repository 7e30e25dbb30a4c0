"""Networks and subnets made, changed and deleted through the network API: Neutron's
shapes, who may do what, and the addresses a subnet brings."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from labs.network import models
from tests.network.api_helpers import Net, error, net_fixture  # noqa: F401


def made(net: Net, kind: str, body: dict[str, Any], who: str = "alice") -> dict[str, Any]:
    resp = net.call("POST", f"/{kind}s", who, json={kind: body})
    assert resp.status_code == 201, resp.text
    item: dict[str, Any] = resp.json()[kind]
    return item


def addresses(net: Net, subnet_id: str) -> list[str]:
    with net.service.db.reading() as tx:
        return list(tx.scalars(sa.select(models.FixedIp.address).where(
            models.FixedIp.subnet_id == subnet_id).order_by(models.FixedIp.number)))


def test_a_network_and_its_subnet_made_changed_and_deleted(net: Net) -> None:
    mine = made(net, "network", {"name": "blue", "description": "d", "mtu": 1400})
    assert {k: mine[k] for k in ("name", "description", "mtu", "shared", "admin_state_up",
                                 "router:external", "subnets", "status", "project_id",
                                 "revision_number")} == {
        "name": "blue", "description": "d", "mtu": 1400, "shared": False,
        "admin_state_up": True, "router:external": False, "subnets": [],
        "status": "ACTIVE", "project_id": net.projects["a"], "revision_number": 0}
    sub = made(net, "subnet", {"network_id": mine["id"], "cidr": "192.168.77.0/24",
                               "ip_version": 4, "name": "blue-v4",
                               "dns_nameservers": ["9.9.9.9"]})
    assert {k: sub[k] for k in ("cidr", "gateway_ip", "allocation_pools", "enable_dhcp",
                                "dns_nameservers", "host_routes", "subnetpool_id",
                                "network_id", "project_id", "ip_version")} == {
        "cidr": "192.168.77.0/24", "gateway_ip": "192.168.77.1",
        "allocation_pools": [{"start": "192.168.77.2", "end": "192.168.77.254"}],
        "enable_dhcp": True, "dns_nameservers": ["9.9.9.9"], "host_routes": [],
        "subnetpool_id": None, "network_id": mine["id"], "project_id": net.projects["a"],
        "ip_version": 4}
    got = addresses(net, sub["id"])
    assert len(got) == 253 and got[0] == "192.168.77.2" and got[-1] == "192.168.77.254"
    assert net.ok(f"/networks/{mine['id']}")["network"]["subnets"] == [sub["id"]]
    # the same range on another project's network, and a second network of a project
    theirs = made(net, "network", {"name": "blue"}, "bob")
    made(net, "subnet", {"network_id": theirs["id"], "cidr": "192.168.77.0/24"}, "bob")
    assert sorted(n["name"] for n in net.ok("/networks", name="blue")["networks"]) == ["blue"]

    resp = net.call("PUT", f"/networks/{mine['id']}", json={"network": {"name": "green"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["network"]["name"] == "green"
    assert resp.json()["network"]["revision_number"] == 1
    resp = net.call("PUT", f"/subnets/{sub['id']}", json={"subnet": {
        "name": "g", "enable_dhcp": False, "dns_nameservers": []}})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["subnet"]["name"], resp.json()["subnet"]["enable_dhcp"]) == ("g", False)
    assert net.ok("/subnets", network_id=mine["id"], enable_dhcp="false")["subnets"][0][
        "id"] == sub["id"]

    assert net.call("DELETE", f"/subnets/{sub['id']}").status_code == 204
    assert addresses(net, sub["id"]) == []
    assert net.call("DELETE", f"/networks/{mine['id']}").status_code == 204
    error(net.call("GET", f"/networks/{mine['id']}"), 404, "NetworkNotFound")


def test_a_network_or_subnet_in_use_is_not_deleted(net: Net) -> None:
    mine = made(net, "network", {"name": "busy"})
    sub = made(net, "subnet", {"network_id": mine["id"], "cidr": "10.9.0.0/29"})
    with net.service.db.transaction() as tx:
        tx.execute(sa.update(models.FixedIp).where(models.FixedIp.subnet_id == sub["id"],
                                                   models.FixedIp.address == "10.9.0.2")
                   .values(instance_id="vm-1", port_id="port-1", mac="fa:16:3e:00:00:01"))
    body = error(net.call("DELETE", f"/networks/{mine['id']}"), 409, "NetworkInUse")
    assert mine["id"] in body["message"]
    error(net.call("DELETE", f"/subnets/{sub['id']}"), 409, "SubnetInUse")
    assert net.ok(f"/subnets/{sub['id']}")["subnet"]["cidr"] == "10.9.0.0/29"


@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)  # SQLite: one writer
def test_an_address_taken_while_its_network_is_deleted_is_kept(net: Net) -> None:
    """A placement takes an address (its row locked) while the network's deletion runs:
    the deletion waits for it, then refuses (409) and the address stays."""
    mine = made(net, "network", {"name": "racing"})
    sub = made(net, "subnet", {"network_id": mine["id"], "cidr": "10.9.0.0/29"})
    answers: list[Any] = []
    with net.service.db.transaction() as tx:
        tx.execute(sa.update(models.FixedIp).where(models.FixedIp.subnet_id == sub["id"],
                                                   models.FixedIp.address == "10.9.0.2")
                   .values(instance_id="vm-1", port_id="port-1", mac="fa:16:3e:00:00:01"))
        deleting = threading.Thread(target=lambda: answers.append(
            net.call("DELETE", f"/networks/{mine['id']}")))
        deleting.start()
        deadline = time.monotonic() + 20
        while not waiting_on_fixed_ips(net) and deleting.is_alive():
            assert time.monotonic() < deadline, "the deletion never waited"
            time.sleep(0.05)
    deleting.join(30)
    error(answers[0], 409, "NetworkInUse")
    assert addresses(net, sub["id"]) == [f"10.9.0.{n}" for n in range(2, 7)]


def waiting_on_fixed_ips(net: Net) -> bool:
    """Whether another connection to this database is inside a statement on fixed IPs
    (which, while the test holds a row's lock, means it waits for that lock)."""
    with net.service.db.engine.connect() as conn:
        return bool(conn.execute(sa.text(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
            "AND ID <> CONNECTION_ID() AND COMMAND = 'Query' "
            "AND INFO LIKE '%fixed_ip%'")).scalar())


def test_pools_and_gateway_as_asked(net: Net) -> None:
    mine = made(net, "network", {"name": "p"})
    sub = made(net, "subnet", {
        "network_id": mine["id"], "cidr": "10.1.0.0/28", "gateway_ip": "10.1.0.14",
        "allocation_pools": [{"start": "10.1.0.8", "end": "10.1.0.9"},
                             {"start": "10.1.0.2", "end": "10.1.0.3"}],
        "host_routes": [{"destination": "10.2.0.0/16", "nexthop": "10.1.0.14"}]})
    assert sub["gateway_ip"] == "10.1.0.14"
    assert sub["allocation_pools"] == [{"start": "10.1.0.2", "end": "10.1.0.3"},
                                       {"start": "10.1.0.8", "end": "10.1.0.9"}]
    assert addresses(net, sub["id"]) == ["10.1.0.2", "10.1.0.3", "10.1.0.8", "10.1.0.9"]
    other = made(net, "network", {"name": "q"})
    sub = made(net, "subnet", {"network_id": other["id"], "cidr": "10.1.0.0/28",
                               "gateway_ip": "10.1.0.5"})
    assert sub["allocation_pools"] == [{"start": "10.1.0.1", "end": "10.1.0.4"},
                                       {"start": "10.1.0.6", "end": "10.1.0.14"}]


def test_one_ipv4_subnet_per_network(net: Net) -> None:
    mine = made(net, "network", {"name": "one"})
    made(net, "subnet", {"network_id": mine["id"], "cidr": "10.1.0.0/24"})
    body = error(net.call("POST", "/subnets", json={"subnet": {
        "network_id": mine["id"], "cidr": "10.2.0.0/24"}}), 400, "BadRequest")
    assert "one IPv4 subnet" in body["message"]


def test_another_projects_network_and_subnet_are_untouchable(net: Net) -> None:
    theirs = made(net, "network", {"name": "bobs"}, "bob")
    sub = made(net, "subnet", {"network_id": theirs["id"], "cidr": "10.5.0.0/24"}, "bob")
    for who in ("alice", "amy", "ann"):
        error(net.call("PUT", f"/networks/{theirs['id']}", who,
                       json={"network": {"name": "x"}}), 404, "NetworkNotFound")
        error(net.call("DELETE", f"/networks/{theirs['id']}", who), 404, "NetworkNotFound")
        error(net.call("PUT", f"/subnets/{sub['id']}", who, json={"subnet": {"name": "x"}}),
              404, "SubnetNotFound")
        error(net.call("DELETE", f"/subnets/{sub['id']}", who), 404, "SubnetNotFound")
        if who != "ann":  # a reader makes no subnet anywhere: 403 first
            body = error(net.call("POST", "/subnets", who, json={"subnet": {
                "network_id": theirs["id"], "cidr": "10.6.0.0/24"}}), 404, "NetworkNotFound")
            assert body["message"] == f"Network {theirs['id']} could not be found."
        assert net.ok("/subnets", who, id=sub["id"])["subnets"] == []
    # the default network of project b too
    error(net.call("DELETE", f"/networks/{net.networks['b'].id}"), 404, "NetworkNotFound")
    assert net.ok(f"/networks/{theirs['id']}", "bob")["network"]["name"] == "bobs"
    # admins change any project's
    resp = net.call("PUT", f"/networks/{theirs['id']}", "admin",
                    json={"network": {"name": "renamed"}})
    assert resp.status_code == 200 and resp.json()["network"]["name"] == "renamed"


def test_readers_do_not_write(net: Net) -> None:
    mine = made(net, "network", {"name": "m"})
    for method, path, body in (
            ("POST", "/networks", {"network": {"name": "r"}}),
            ("PUT", f"/networks/{mine['id']}", {"network": {"name": "r"}}),
            ("DELETE", f"/networks/{mine['id']}", None),
            ("POST", "/subnets", {"subnet": {"network_id": mine["id"], "cidr": "10.0.0.0/24"}})):
        error(net.call(method, path, "ann", json=body), 403, "PolicyNotAuthorized")
    assert net.ok(f"/networks/{mine['id']}", "ann")["network"]["subnets"] == []


def test_shared_networks_are_seen_by_all_and_changed_by_admins(net: Net) -> None:
    body = error(net.call("POST", "/networks", json={"network": {"name": "s",
                                                                 "shared": True}}),
                 403, "PolicyNotAuthorized")
    assert body["message"] == ("(rule:create_network and rule:create_network:shared) is "
                               "disallowed by policy")
    error(net.call("POST", "/networks", json={"network": {"router:external": False}}),
          403, "PolicyNotAuthorized")
    shared = made(net, "network", {"name": "everyone", "shared": True}, "admin")
    sub = made(net, "subnet", {"network_id": shared["id"], "cidr": "10.50.0.0/24"}, "admin")
    for who in ("alice", "bob", "ann"):
        assert net.ok(f"/networks/{shared['id']}", who)["network"]["shared"] is True
        assert net.ok(f"/subnets/{sub['id']}", who)["subnet"]["cidr"] == "10.50.0.0/24"
    for who in ("alice", "bob"):
        error(net.call("PUT", f"/networks/{shared['id']}", who,
                       json={"network": {"name": "mine"}}), 403, "PolicyNotAuthorized")
        error(net.call("DELETE", f"/networks/{shared['id']}", who), 403,
              "PolicyNotAuthorized")
        error(net.call("DELETE", f"/subnets/{sub['id']}", who), 403, "PolicyNotAuthorized")
        error(net.call("POST", "/subnets", who, json={"subnet": {
            "network_id": shared["id"], "cidr": "10.51.0.0/24"}}), 403, "PolicyNotAuthorized")
    mine = made(net, "network", {"name": "mine"})
    error(net.call("PUT", f"/networks/{mine['id']}", json={"network": {"shared": True}}),
          403, "PolicyNotAuthorized")
    error(net.call("PUT", f"/networks/{net.external_id()}", "admin",
                   json={"network": {"name": "x"}}), 403, "PolicyNotAuthorized")
    body = error(net.call("POST", "/networks", "admin", json={"network": {
        "router:external": True}}), 400, "HTTPBadRequest")
    assert "one external network" in body["message"]
    error(net.call("POST", "/networks", json={"network": {"project_id": net.projects["b"]}}),
          400, "HTTPBadRequest")


def test_bad_networks_and_subnets_are_400s(net: Net) -> None:
    body = error(net.call("POST", "/networks", json={"network": {"mtu": 9000}}), 400,
                 "InvalidInput")
    assert body["message"] == ("Invalid input for operation: Requested MTU is too big, "
                               "maximum is 1500.")
    error(net.call("POST", "/networks", json={"network": {"colour": "red"}}), 400,
          "HTTPBadRequest")
    error(net.call("POST", "/networks", json={"network": {"mtu": "big"}}), 400,
          "HTTPBadRequest")
    assert made(net, "network", {"mtu": "1400"})["mtu"] == 1400  # as OSC sends it
    mine = made(net, "network", {"name": "bad"})
    ident = mine["id"]
    error(net.call("PUT", f"/networks/{ident}", json={"network": {"mtu": 1501}}), 400,
          "InvalidInput")
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        ({"cidr": "10.0.0.0/33"}, 400, "HTTPBadRequest", "is not a valid IP subnet"),
        ({"cidr": "banana"}, 400, "HTTPBadRequest", "is not a valid IP subnet"),
        ({"cidr": "fd00::/64"}, 400, "HTTPBadRequest", "IPv4"),
        ({"cidr": "10.0.0.0/8"}, 400, "HTTPBadRequest", "/16 to /29"),
        ({"cidr": "10.0.0.0/30"}, 400, "HTTPBadRequest", "/16 to /29"),
        ({"cidr": "10.0.0.5/24"}, 400, "HTTPBadRequest", "use '10.0.0.0/24'"),
        ({"cidr": "10.0.0.0/24", "ip_version": 6}, 400, "HTTPBadRequest", "IPv4"),
        ({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.1.1"}, 400, "InvalidInput",
         "Gateway is not valid on subnet"),
        ({"cidr": "10.0.0.0/24", "gateway_ip": "nope"}, 400, "HTTPBadRequest",
         "not a valid IP address"),
        ({"cidr": "10.0.0.0/24", "gateway_ip": None}, 400, "HTTPBadRequest", "gateway"),
        ({"cidr": "10.0.0.0/24", "allocation_pools": [
            {"start": "10.0.0.10", "end": "10.0.1.5"}]}, 400, "OutOfBoundsAllocationPool",
         "spans beyond the subnet cidr"),
        ({"cidr": "10.0.0.0/24", "allocation_pools": [
            {"start": "10.0.0.10", "end": "10.0.0.20"},
            {"start": "10.0.0.15", "end": "10.0.0.30"}]}, 409, "OverlappingAllocationPools",
         "overlapping"),
        ({"cidr": "10.0.0.0/24", "allocation_pools": [
            {"start": "10.0.0.1", "end": "10.0.0.20"}]}, 409,
         "GatewayConflictWithAllocationPools", "conflicts with allocation pool"),
        ({"cidr": "10.0.0.0/24", "allocation_pools": [
            {"start": "10.0.0.30", "end": "10.0.0.20"}]}, 400, "HTTPBadRequest", "ends"),
        ({"cidr": "10.0.0.0/24", "dns_nameservers": ["1.1.1.1", "1.1.1.1"]}, 400,
         "HTTPBadRequest", "Duplicate"),
        ({"cidr": "10.0.0.0/24", "host_routes": [{"destination": "x", "nexthop": "1.1.1.1"}]},
         400, "HTTPBadRequest", "host_routes"),
        ({"cidr": "0.0.0.0/16"}, 400, "HTTPBadRequest", "special-purpose"),
        ({"cidr": "127.0.0.0/24"}, 400, "HTTPBadRequest", "special-purpose"),
        ({"cidr": "169.254.169.0/24"}, 400, "HTTPBadRequest", "special-purpose"),
        ({"cidr": "224.0.0.0/24"}, 400, "HTTPBadRequest", "special-purpose"),
        ({"cidr": "255.255.255.0/24"}, 400, "HTTPBadRequest", "special-purpose"),
        ({"cidr": "172.24.0.0/16"}, 400, "HTTPBadRequest", "the public range"),
        ({"cidr": "172.24.4.128/29"}, 400, "HTTPBadRequest", "the public range"),
        ({"cidr": "10.0.0.0/24", "subnetpool_id": "abc"}, 400, "HTTPBadRequest", ""),
        ({"cidr": "10.0.0.0/24", "colour": "red"}, 400, "HTTPBadRequest", ""),
    ]
    for asked, code, kind, words in cases:
        body = error(net.call("POST", "/subnets", json={"subnet": {"network_id": ident,
                                                                   **asked}}), code, kind)
        assert words in body["message"], (asked, body)
    assert net.ok(f"/networks/{ident}")["network"]["subnets"] == []
    sub = made(net, "subnet", {"network_id": ident, "cidr": "10.0.0.0/24"})
    error(net.call("PUT", f"/subnets/{sub['id']}", json={"subnet": {
        "gateway_ip": "10.0.0.9"}}), 400, "HTTPBadRequest")


def test_networks_and_subnets_stay_within_the_project_quota(net: Net) -> None:
    project = net.projects["a"]
    used = net.ok(f"/quotas/{project}/details")["quota"]
    resp = net.call("PUT", f"/quotas/{project}", "admin", json={"quota": {
        "network": used["network"]["used"] + 1, "subnet": used["subnet"]["used"] + 1}})
    assert resp.status_code == 200, resp.text
    first = made(net, "network", {"name": "one"})
    body = error(net.call("POST", "/networks", json={"network": {"name": "two"}}), 409,
                 "OverQuota")
    assert "network" in body["message"]
    made(net, "subnet", {"network_id": first["id"], "cidr": "10.1.0.0/29"})
    other = made(net, "network", {"name": "two"}, "bob")  # another project's quota
    assert net.call("DELETE", f"/networks/{first['id']}").status_code == 204
    second = made(net, "network", {"name": "two"})
    made(net, "subnet", {"network_id": second["id"], "cidr": "10.2.0.0/29"})
    assert net.ok(f"/quotas/{project}/details")["quota"]["network"]["used"] == \
        used["network"]["used"] + 1
    assert other["project_id"] != project


def test_new_networks_take_public_addresses_within_the_router_quota(net: Net) -> None:
    """Every project shares the public range: a project's networks hold at most its
    ``router`` quota of its addresses (one each, for their uplinks)."""
    project = net.projects["a"]

    def uplinks() -> int:
        with net.service.db.reading() as tx:
            return tx.scalar(sa.select(sa.func.count()).select_from(models.Network).where(
                models.Network.project_id == project,
                models.Network.external_ip.is_not(None))) or 0

    before = uplinks()
    resp = net.call("PUT", f"/quotas/{project}", "admin", json={"quota": {
        "router": before + 1}})
    assert resp.status_code == 200, resp.text
    for name in ("one", "two", "three"):
        made(net, "network", {"name": name})
    assert uplinks() == before + 1
    made(net, "network", {"name": "four"}, "bob")  # another project's own quota


def test_a_projects_subnets_hold_a_bounded_number_of_addresses(net: Net) -> None:
    """Each address of a subnet is a row made with it: a /16 is fine, but the subnets
    of the project's quota cannot all be /16s."""
    big = made(net, "network", {"name": "big"})
    sub = made(net, "subnet", {"network_id": big["id"], "cidr": "10.64.0.0/16"})
    assert len(addresses(net, sub["id"])) == 65533
    again = made(net, "network", {"name": "again"})
    body = error(net.call("POST", "/subnets", json={"subnet": {
        "network_id": again["id"], "cidr": "10.65.0.0/16"}}), 409, "OverQuota")
    assert "subnet" in body["message"]
    small = made(net, "subnet", {"network_id": again["id"], "cidr": "10.65.0.0/24"})
    assert len(addresses(net, small["id"])) == 253
    other = made(net, "network", {"name": "big"}, "bob")  # another project's own limit
    made(net, "subnet", {"network_id": other["id"], "cidr": "10.64.0.0/16"}, "bob")


def test_default_networks_made_at_once_take_blocks_of_their_own(net: Net) -> None:
    """Projects' first servers at once: each default network gets a block of the pool
    no other has (one subnet per block), whichever commits first."""
    projects = [net.cloud.project(f"p{i}") for i in range(6)]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        made_ = list(pool.map(lambda p: net.service.fixed_ips.ensure_network(
            net.service.db, p), projects))
    with net.service.db.reading() as tx:
        cidrs = [tx.scalar(sa.select(models.Subnet.cidr).where(
            models.Subnet.network_id == m.id)) for m in made_]
    assert len(set(cidrs)) == len(projects), cidrs


def test_a_subnet_in_the_default_networks_range_is_a_400(net: Net) -> None:
    mine = made(net, "network", {"name": "inside"})
    body = error(net.call("POST", "/subnets", json={"subnet": {
        "network_id": mine["id"], "cidr": "10.68.200.0/24", "ip_version": 4}}), 400,
        "HTTPBadRequest")
    assert "fixed_range" in body["message"]
