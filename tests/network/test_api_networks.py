"""Networks and subnets through the network API: their attributes, who sees which, and
lists with filters, fields, sorting and paging as Neutron serves them."""

from __future__ import annotations

import uuid

import pytest

from labs.network.topology import subnet_id_of
from tests.network.api_helpers import V2, Net, error, net_fixture  # noqa: F401


def test_a_project_network_as_neutron_shows_it(net: Net) -> None:
    mine = net.networks["a"]
    shown = net.ok(f"/networks/{mine.id}")["network"]
    when = shown["created_at"]
    assert shown == {
        "id": mine.id, "name": "lan", "status": "ACTIVE", "admin_state_up": True,
        "shared": False, "router:external": False, "mtu": 1500,
        "subnets": [subnet_id_of(mine.id)], "project_id": net.projects["a"],
        "tenant_id": net.projects["a"], "description": "", "tags": [],
        "created_at": when, "updated_at": when, "revision_number": 0}
    assert when.endswith("Z") and when[:4].isdigit()
    subnet = net.ok(f"/subnets/{subnet_id_of(mine.id)}")["subnet"]
    assert subnet == {
        "id": subnet_id_of(mine.id), "name": "lan-subnet", "network_id": mine.id,
        "ip_version": 4, "cidr": mine.cidr, "gateway_ip": mine.gateway, "enable_dhcp": True,
        "allocation_pools": [{"start": "10.68.0.2", "end": "10.68.0.254"}],
        "dns_nameservers": [], "host_routes": [], "ipv6_ra_mode": None,
        "ipv6_address_mode": None, "subnetpool_id": None, "project_id": net.projects["a"],
        "tenant_id": net.projects["a"], "description": "", "tags": [], "created_at": when,
        "updated_at": when, "revision_number": 0}
    assert (mine.cidr, mine.gateway) == ("10.68.0.0/24", "10.68.0.1")
    assert uuid.UUID(subnet["id"]).version == 5


def test_the_external_network_is_everyones(net: Net) -> None:
    ext = net.external_id()
    for who in ("admin", "alice", "ann", "bob"):
        shown = net.ok(f"/networks/{ext}", who)["network"]
        assert shown["name"] == "public" and shown["router:external"] is True
        assert shown["shared"] is False and shown["project_id"] == net.projects["admin"]
        subnet = net.ok(f"/subnets/{shown['subnets'][0]}", who)["subnet"]
        assert subnet["cidr"] == "172.24.4.0/24" and subnet["gateway_ip"] == "172.24.4.1"
        assert subnet["enable_dhcp"] is False and subnet["name"] == "public-subnet"
        # the floating IPs' pool: the lower half past the gateway
        assert subnet["allocation_pools"] == [{"start": "172.24.4.2", "end": "172.24.4.127"}]
    assert net.ok("/networks", "bob", name="public")["networks"][0]["id"] == ext


def test_members_see_their_project_and_the_external_network(net: Net) -> None:
    for who in ("alice", "ann", "amy"):
        assert sorted(net.owners("/networks", who)) == ["a", "external"]
        assert sorted(net.owners("/subnets", who)) == ["a", "external"]
    assert sorted(net.owners("/networks", "bob")) == ["b", "external"]
    assert sorted(net.owners("/networks", "admin")) == ["a", "b", "external"]
    assert sorted(net.owners("/subnets", "admin")) == ["a", "b", "external"]


def test_another_projects_network_is_not_found(net: Net) -> None:
    theirs = net.networks["b"]
    for who in ("alice", "ann", "amy"):
        body = error(net.call("GET", f"/networks/{theirs.id}", who), 404, "NetworkNotFound")
        assert body["message"] == f"Network {theirs.id} could not be found."
        error(net.call("GET", f"/subnets/{subnet_id_of(theirs.id)}", who), 404,
              "SubnetNotFound")
        # filters do not reach past what the caller sees
        assert net.ok("/networks", who, id=theirs.id)["networks"] == []
        assert net.ok("/networks", who, project_id=net.projects["b"])["networks"] == []
        assert net.ok("/subnets", who, network_id=theirs.id)["subnets"] == []
    assert net.ok(f"/networks/{theirs.id}", "admin")["network"]["id"] == theirs.id
    assert net.ok(f"/networks/{theirs.id}", "bob")["network"]["id"] == theirs.id


def test_a_project_without_a_network_yet_sees_the_external_one(net: Net) -> None:
    net.cloud.user("carl", "pw", {"c": "member"})
    token = net.cloud.token("carl", "pw", "c")
    resp = net.call("GET", "/networks", who=None, headers={"X-Auth-Token": token})
    assert [n["name"] for n in resp.json()["networks"]] == ["public"]


def test_filters(net: Net) -> None:
    a, b = net.networks["a"].id, net.networks["b"].id
    assert net.owners("/networks", "admin", **{"router:external": "true"}) == ["external"]
    assert sorted(net.owners("/networks", "admin", **{"router:external": "False"})) == [
        "a", "b"]
    assert net.owners("/networks", "admin", project_id=net.projects["b"]) == ["b"]
    assert net.owners("/networks", "admin", tenant_id=net.projects["a"]) == ["a"]
    assert sorted(net.owners("/networks", "admin", id=[a, b])) == ["a", "b"]  # either
    assert sorted(net.owners("/networks", "admin", name="lan")) == ["a", "b"]
    assert net.owners("/networks", "admin", name="lan", id=b) == ["b"]  # and both
    assert net.owners("/networks", "admin", shared="true") == []
    assert len(net.owners("/networks", "admin", shared="0", mtu="1500")) == 3
    assert net.owners("/networks", "admin", name="") == net.owners("/networks", "admin")
    assert net.owners("/subnets", "admin", cidr="10.68.1.0/24") == ["b"]
    assert net.owners("/subnets", "admin", enable_dhcp="false") == ["external"]
    assert net.owners("/subnets", "alice", network_id=a, ip_version="4") == ["a"]


def test_fields(net: Net) -> None:
    listed = net.ok("/networks", "admin", fields=["id", "name", "nonesuch"])["networks"]
    assert all(set(n) == {"id", "name"} for n in listed) and len(listed) == 3
    ext = net.external_id()
    assert net.ok(f"/networks/{ext}", "bob", fields="router:external") == {
        "network": {"router:external": True}}
    assert net.ok("/subnets", "alice", fields="cidr")["subnets"] in (
        [{"cidr": "172.24.4.0/24"}, {"cidr": "10.68.0.0/24"}],
        [{"cidr": "10.68.0.0/24"}, {"cidr": "172.24.4.0/24"}])


def test_sorting(net: Net) -> None:
    listed = net.ok("/networks", "admin", sort_key="name", sort_dir="desc")["networks"]
    assert [n["name"] for n in listed] == ["public", "lan", "lan"]
    lans = [n["id"] for n in listed if n["name"] == "lan"]
    assert lans == sorted(lans)  # then by id
    by_ids = net.ok("/networks", "admin", sort_key="id", sort_dir="asc")["networks"]
    assert [n["id"] for n in by_ids] == sorted(n["id"] for n in by_ids)
    two = net.ok("/networks", "admin", sort_key=["router:external", "id"],
                 sort_dir=["desc", "desc"])["networks"]
    assert two[0]["name"] == "public"
    assert [n["id"] for n in two[1:]] == sorted(lans, reverse=True)
    cidrs = net.ok("/subnets", "admin", sort_key="cidr", sort_dir="asc")["subnets"]
    assert [s["cidr"] for s in cidrs] == ["10.68.0.0/24", "10.68.1.0/24", "172.24.4.0/24"]


def test_paging_follows_the_links(net: Net) -> None:
    everything = [n["id"] for n in net.ok("/networks", "admin")["networks"]]
    assert everything == sorted(everything)
    assert "networks_links" not in net.ok("/networks", "admin")
    first = net.ok("/networks", "admin", limit=2)
    assert [n["id"] for n in first["networks"]] == everything[:2]
    links = {link["rel"]: link["href"] for link in first["networks_links"]}
    assert links["next"] == f"http://testserver{V2}/networks?limit=2&marker={everything[1]}"
    assert links["previous"] == (f"http://testserver{V2}/networks?limit=2&marker="
                                 f"{everything[0]}&page_reverse=True")
    second = net.client.get(links["next"], headers={"X-Auth-Token": net.token("admin")})
    assert [n["id"] for n in second.json()["networks"]] == everything[2:]
    # a short last page has no next, only previous
    assert [link["rel"] for link in second.json()["networks_links"]] == ["previous"]
    back = net.client.get(second.json()["networks_links"][0]["href"],
                          headers={"X-Auth-Token": net.token("admin")}).json()
    assert [n["id"] for n in back["networks"]] == everything[:2]
    # a marker without a limit is ignored, as Neutron ignores it
    assert [n["id"] for n in net.ok("/networks", "admin", marker=everything[0])[
        "networks"]] == everything
    assert net.ok("/networks", "admin", limit=0) == net.ok("/networks", "admin")


def test_paging_with_a_filter_and_a_sort(net: Net) -> None:
    page = net.ok("/subnets", "admin", limit=1, sort_key="cidr", sort_dir="desc",
                  fields="cidr", ip_version="4")
    assert page["subnets"] == [{"cidr": "172.24.4.0/24"}]
    nxt = next(link["href"] for link in page["subnets_links"] if link["rel"] == "next")
    assert "sort_key=cidr" in nxt and "fields=cidr" in nxt and "ip_version=4" in nxt
    got = net.client.get(nxt, headers={"X-Auth-Token": net.token("admin")}).json()
    assert got["subnets"] == [{"cidr": "10.68.1.0/24"}]


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_a_marker_of_another_project_is_not_found(net: Net, who: str) -> None:
    other = net.networks["b" if who == "alice" else "a"].id
    error(net.call("GET", "/networks", who, params={"limit": 1, "marker": other}), 404,
          "NetworkNotFound")
    error(net.call("GET", "/subnets", who,
                   params={"limit": 1, "marker": subnet_id_of(other)}), 404, "SubnetNotFound")
