"""The compute API's nova-network proxies against a whole control plane: security groups
and their rules, a server's groups, floating IPs and a server's addresses."""

from __future__ import annotations

import concurrent.futures
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from labs.common.context import RequestContext
from labs.identity.resources import ProjectFilter
from labs.network import models as net_models
from tests.compute.conftest import Plane, record_casts

PROXY = "2.35"  # the last microversion with the proxy APIs
FLOATING = "2.43"  # the last with addFloatingIp and removeFloatingIp


@pytest.fixture
def casts(plane: Plane, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """The ``refresh_network`` casts the API sends, in order."""
    return record_casts(plane, monkeypatch)


def groups(plane: Plane, who: str = "alice", query: str = "") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = plane.ok("GET", f"/os-security-groups{query}", who,
                                           version=PROXY)["security_groups"]
    return found


def make_group(plane: Plane, name: str, who: str = "alice") -> dict[str, Any]:
    made: dict[str, Any] = plane.ok("POST", "/os-security-groups", who, version=PROXY, json={
        "security_group": {"name": name, "description": f"{name} servers"}})["security_group"]
    return made


def add_rule(plane: Plane, parent: str | int, who: str = "alice", **rule: Any) -> Any:
    return plane.call("POST", "/os-security-group-rules", who, version=PROXY, json={
        "security_group_rule": {"parent_group_id": str(parent), **rule}})


def action(plane: Plane, server_id: str, body: dict[str, Any], who: str = "alice",
           version: str = FLOATING) -> Any:
    return plane.call("POST", f"/servers/{server_id}/action", who, version=version, json=body)


def addresses(plane: Plane, server_id: str) -> list[tuple[str, str]]:
    shown = plane.show(server_id)["addresses"]
    assert list(shown) == ["lan"], shown
    return [(a["OS-EXT-IPS:type"], a["addr"]) for a in shown["lan"]]


# -- security groups ---------------------------------------------------------------------

def test_default_group_has_labs_rules(plane: Plane) -> None:
    (default,) = groups(plane)
    assert default["name"] == "default"
    assert default["tenant_id"] != groups(plane, "bob")[0]["tenant_id"]
    assert set(default) == {"id", "name", "description", "tenant_id", "rules"}
    assert uuid.UUID(default["id"])  # as Nova with Neutron shows it
    # Neutron's (anything from members, IPv4 and IPv6) and Labs' own; egress rules are
    # not shown, as Nova with Neutron does
    by_source = sorted(((r["ip_protocol"], r["from_port"], r["to_port"],
                         r["ip_range"].get("cidr"), r["group"].get("name"))
                        for r in default["rules"]), key=str)
    assert by_source == [("icmp", -1, -1, "0.0.0.0/0", None),
                         ("tcp", 22, 22, "10.68.0.0/16", None),
                         (None, None, None, None, "default"),
                         (None, None, None, None, "default")]
    for rule in default["rules"]:
        assert rule["parent_group_id"] == default["id"]
        assert (rule["ip_range"] == {}) != (rule["group"] == {})
        if rule["group"]:
            assert rule["group"]["tenant_id"] == default["tenant_id"]
    shown = plane.ok("GET", f"/os-security-groups/{default['id']}", version=PROXY)
    assert shown["security_group"] == default
    refused = plane.call("DELETE", f"/os-security-groups/{default['id']}", version=PROXY)
    assert refused.status_code == 400, refused.text
    assert "default" in refused.json()["badRequest"]["message"]


def test_group_create_update_delete(plane: Plane, casts: list[Any]) -> None:
    web = make_group(plane, "web")
    assert web["name"] == "web" and web["description"] == "web servers"
    assert web["rules"] == []
    assert {g["name"] for g in groups(plane)} == {"default", "web"}
    again = plane.call("POST", "/os-security-groups", version=PROXY, json={
        "security_group": {"name": "web", "description": ""}})
    assert again.status_code == 400 and "already exists" in again.text
    renamed = plane.ok("PUT", f"/os-security-groups/{web['id']}", version=PROXY, json={
        "security_group": {"name": "www", "description": "front"}})["security_group"]
    assert (renamed["id"], renamed["name"], renamed["description"]) == (web["id"], "www",
                                                                         "front")
    gone = plane.call("DELETE", f"/os-security-groups/{web['id']}", version=PROXY)
    assert gone.status_code == 202 and not gone.content
    assert plane.call("GET", f"/os-security-groups/{web['id']}",
                      version=PROXY).status_code == 404
    assert plane.call("DELETE", f"/os-security-groups/{web['id']}",
                      version=PROXY).status_code == 404


@pytest.mark.parametrize("body", [
    {"security_group": {"name": "x" * 256, "description": ""}},
    {"security_group": {"name": "web", "description": "d" * 256}},
    {"security_group": {"name": "", "description": ""}},
    {"security_group": {"name": "web"}},
    {"security_group": {"name": 5, "description": ""}},
    {"name": "web", "description": ""},
])
def test_bad_group_bodies(plane: Plane, body: dict[str, Any]) -> None:
    resp = plane.call("POST", "/os-security-groups", version=PROXY, json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["badRequest"]["code"] == 400


def test_rules(plane: Plane, casts: list[Any]) -> None:
    web = make_group(plane, "web")
    server = plane.create(networks="auto")
    casts.clear()
    made = add_rule(plane, web["id"], ip_protocol="tcp", from_port=80, to_port=80,
                    cidr="192.0.2.0/24")
    assert made.status_code == 200, made.text
    rule = made.json()["security_group_rule"]
    assert rule == {"id": rule["id"], "parent_group_id": web["id"], "ip_protocol": "tcp",
                    "from_port": 80, "to_port": 80, "ip_range": {"cidr": "192.0.2.0/24"},
                    "group": {}}
    # every host with a server of the project applies the new rule
    assert casts == [(plane.show(server["id"], "admin")["OS-EXT-SRV-ATTR:host"],
                      [server["id"]])]
    from_group = add_rule(plane, web["id"], group_id=str(web["id"]))
    assert from_group.status_code == 200, from_group.text
    assert from_group.json()["security_group_rule"]["group"] == {
        "name": "web", "tenant_id": web["tenant_id"]}
    shown = plane.ok("GET", f"/os-security-groups/{web['id']}",
                     version=PROXY)["security_group"]
    assert sorted(r["ip_protocol"] for r in shown["rules"]) == ["icmp", "tcp", "tcp", "udp"]
    assert plane.call("DELETE", f"/os-security-group-rules/{rule['id']}",
                      version=PROXY).status_code == 202
    assert plane.call("DELETE", f"/os-security-group-rules/{rule['id']}",
                      version=PROXY).status_code == 404


@pytest.mark.parametrize("rule", [
    {"ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/33"},
    {"ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "not-a-cidr"},
    {"ip_protocol": "tcp", "from_port": 100, "to_port": 50},
    {"ip_protocol": "tcp", "from_port": 0, "to_port": 0},
    {"ip_protocol": "udp", "from_port": 1, "to_port": 70000},
    {"ip_protocol": "icmp", "from_port": 300, "to_port": 0},
    {"ip_protocol": "tcp", "from_port": "eighty", "to_port": 80},
    {"ip_protocol": "gre", "from_port": 1, "to_port": 2},
    {"ip_protocol": None, "from_port": None, "to_port": None},
])
def test_bad_rules(plane: Plane, rule: dict[str, Any]) -> None:
    web = make_group(plane, "web")
    resp = add_rule(plane, web["id"], **rule)
    assert resp.status_code == 400, resp.text
    assert resp.json()["badRequest"]["message"]


def test_duplicate_rule_and_missing_parent(plane: Plane) -> None:
    web = make_group(plane, "web")
    rule: dict[str, Any] = {"ip_protocol": "tcp", "from_port": 443, "to_port": 443,
                            "cidr": "0.0.0.0/0"}
    assert add_rule(plane, web["id"], **rule).status_code == 200
    again = add_rule(plane, web["id"], **rule)
    assert again.status_code == 400 and "already exists" in again.text
    assert add_rule(plane, 999999, **rule).status_code == 404
    no_parent = plane.call("POST", "/os-security-group-rules", version=PROXY,
                           json={"security_group_rule": {"ip_protocol": "tcp"}})
    assert no_parent.status_code == 400


def test_group_in_use(plane: Plane, casts: list[Any]) -> None:
    web = make_group(plane, "web")
    server = plane.create(security_groups=[{"name": "web"}])
    assert plane.show(server["id"])["security_groups"] == [{"name": "web"}]
    refused = plane.call("DELETE", f"/os-security-groups/{web['id']}", version=PROXY)
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"] == "Security group is still in use"
    plane.ok("DELETE", f"/servers/{server['id']}")
    plane.wait_gone(server["id"])
    assert plane.call("DELETE", f"/os-security-groups/{web['id']}",
                      version=PROXY).status_code == 202


def test_other_projects_groups(plane: Plane) -> None:
    web = make_group(plane, "web")
    theirs = make_group(plane, "db", who="bob")
    assert {g["name"] for g in groups(plane, "bob")} == {"default", "db"}
    # a member asking for everyone's still gets only their own
    assert {g["name"] for g in groups(plane, "bob", "?all_tenants=1")} == {"default", "db"}
    for method, path in (("GET", f"/os-security-groups/{web['id']}"),
                         ("DELETE", f"/os-security-groups/{web['id']}")):
        assert plane.call(method, path, "bob", version=PROXY).status_code == 404
    assert plane.call("PUT", f"/os-security-groups/{web['id']}", "bob", version=PROXY, json={
        "security_group": {"name": "mine", "description": "m"}}).status_code == 404
    assert add_rule(plane, web["id"], "bob", ip_protocol="tcp", from_port=1,
                    to_port=2).status_code == 404
    # a source group from another project is as good as missing
    assert add_rule(plane, web["id"], group_id=str(theirs["id"])).status_code == 404
    rule = add_rule(plane, web["id"], ip_protocol="tcp", from_port=5, to_port=6).json()
    assert plane.call("DELETE", f"/os-security-group-rules/{rule['security_group_rule']['id']}",
                      "bob", version=PROXY).status_code == 404
    everyone = {(g["tenant_id"], g["name"]) for g in groups(plane, "admin", "?all_tenants=1")}
    assert {(web["tenant_id"], "web"), (theirs["tenant_id"], "db")} <= everyone
    assert plane.call("POST", "/os-security-groups", "ann", version=PROXY, json={
        "security_group": {"name": "r", "description": ""}}).status_code == 403
    assert len(groups(plane, "ann")) == 2
    assert [g["name"] for g in groups(plane, query="?limit=1&offset=1")] == ["web"]


def test_the_proxy_and_the_network_service_share_the_rows(plane: Plane) -> None:
    """A rule made with Neutron's fields shows through os-security-groups as Nova with
    Neutron shows it (ingress only), and one made here is the service's ingress rule."""
    web = make_group(plane, "web")
    network = plane.service.servers.network.security_groups
    ctx = RequestContext(user_id="x", project_id=web["tenant_id"],
                         roles=frozenset({"member"}))
    for fields in ({"direction": "egress", "protocol": "tcp", "port_range_min": 25,
                    "port_range_max": 25},
                   {"direction": "ingress", "protocol": "6",
                    "remote_ip_prefix": "192.0.2.0/24"},
                   {"direction": "ingress", "ethertype": "IPv6", "protocol": "udp",
                    "port_range_min": 53, "port_range_max": 53,
                    "remote_ip_prefix": "2001:db8::/32"}):
        network.create_rule(ctx, {"security_group_id": web["id"], **fields})
    shown = plane.ok("GET", f"/os-security-groups/{web['id']}",
                     version=PROXY)["security_group"]["rules"]
    assert sorted((r["ip_protocol"], r["from_port"], r["to_port"], r["ip_range"]["cidr"])
                  for r in shown) == [("tcp", 1, 65535, "192.0.2.0/24"),
                                      ("udp", 53, 53, "2001:db8::/32")]
    made = add_rule(plane, web["id"], ip_protocol="icmp", from_port=8, to_port=-1,
                    cidr="10.0.0.0/8").json()["security_group_rule"]
    rule = network.get_rule(ctx, made["id"])
    assert (rule.direction, rule.ethertype, rule.protocol, rule.port_range_min,
            rule.port_range_max, rule.remote_ip_prefix) == ("ingress", "IPv4", "icmp", 8,
                                                            None, "10.0.0.0/8")
    assert made["from_port"] == 8 and made["to_port"] == -1
    assert plane.call("DELETE", f"/os-security-group-rules/{made['id']}",
                      version=PROXY).status_code == 202
    assert made["id"] not in {r.id for r in network.get(ctx, web["id"]).rules}


def test_proxies_are_gone_at_236(plane: Plane) -> None:
    web = make_group(plane, "web")
    for method, path, body in (
            ("GET", "/os-security-groups", None),
            ("POST", "/os-security-groups", {"security_group": {"name": "x",
                                                                "description": ""}}),
            ("GET", f"/os-security-groups/{web['id']}", None),
            ("DELETE", f"/os-security-groups/{web['id']}", None),
            ("POST", "/os-security-group-rules", {"security_group_rule": {
                "parent_group_id": str(web["id"]), "ip_protocol": "tcp",
                "from_port": 1, "to_port": 1}}),
            ("GET", "/os-floating-ips", None),
            ("POST", "/os-floating-ips", {"pool": "public"}),
            ("GET", "/os-floating-ip-pools", None)):
        for version in ("2.36", "2.100"):
            resp = plane.call(method, path, version=version, json=body)
            assert resp.status_code == 404, (method, path, version, resp.text)
    assert plane.ok("GET", "/os-floating-ip-pools", version="2.1") == {
        "floating_ip_pools": [{"name": "public"}]}
    assert plane.ok("GET", "/os-floating-ips", version=PROXY) == {"floating_ips": []}


# -- a server's groups -------------------------------------------------------------------

def test_server_security_group_actions(plane: Plane, casts: list[Any]) -> None:
    make_group(plane, "web")
    server = plane.create(networks="auto")
    sid = server["id"]
    host = plane.show(sid, "admin")["OS-EXT-SRV-ATTR:host"]
    listed = plane.ok("GET", f"/servers/{sid}/os-security-groups")["security_groups"]
    assert [g["name"] for g in listed] == ["default"] and listed[0]["rules"]
    casts.clear()
    added = action(plane, sid, {"addSecurityGroup": {"name": "web"}}, version="2.100")
    assert added.status_code == 202, added.text
    assert casts == [(host, [sid])]
    assert plane.show(sid)["security_groups"] == [{"name": "default"}, {"name": "web"}]
    listed = plane.ok("GET", f"/servers/{sid}/os-security-groups")["security_groups"]
    assert sorted(g["name"] for g in listed) == ["default", "web"]
    again = action(plane, sid, {"addSecurityGroup": {"name": "web"}})
    assert again.status_code == 400 and "already associated" in again.text
    missing = action(plane, sid, {"addSecurityGroup": {"name": "nope"}})
    assert missing.status_code == 404
    assert action(plane, sid, {"addSecurityGroup": {"name": ""}}).status_code == 400
    assert action(plane, sid, {"addSecurityGroup": {}}).status_code == 400
    removed = action(plane, sid, {"removeSecurityGroup": {"name": "default"}}, version="2.100")
    assert removed.status_code == 202, removed.text
    assert plane.show(sid)["security_groups"] == [{"name": "web"}]
    not_member = action(plane, sid, {"removeSecurityGroup": {"name": "default"}})
    assert not_member.status_code == 400 and "not associated" in not_member.text
    last = action(plane, sid, {"removeSecurityGroup": {"name": "web"}})
    assert last.status_code == 400
    assert action(plane, sid, {"addSecurityGroup": {"name": "web"}}, "bob").status_code == 404


def test_failed_casts_do_not_fail_requests(plane: Plane,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    web = make_group(plane, "web")
    server = plane.create(networks="auto")

    def down(host: str, instance_ids: list[str]) -> None:
        raise ConnectionError("bus down")

    monkeypatch.setattr(plane.service.network_proxy.agents, "refresh_network", down)
    assert add_rule(plane, web["id"], ip_protocol="tcp", from_port=8, to_port=8
                    ).status_code == 200
    assert action(plane, server["id"], {"addSecurityGroup": {"name": "web"}}).status_code == 202


# -- floating IPs ------------------------------------------------------------------------

def test_server_gets_a_fixed_address(plane: Plane) -> None:
    server = plane.create(networks="auto")
    ((kind, addr),) = addresses(plane, server["id"])
    assert kind == "fixed" and addr.startswith("10.68.")
    entry = plane.show(server["id"])["addresses"]["lan"][0]
    assert entry["version"] == 4 and entry["OS-EXT-IPS-MAC:mac_addr"].startswith("fa:16:3e:")
    assert plane.create(name="bare")["addresses"] == {}


def test_floating_ip_life(plane: Plane, casts: list[Any]) -> None:
    server = plane.create(networks="auto")
    sid = server["id"]
    host = plane.show(sid, "admin")["OS-EXT-SRV-ATTR:host"]
    fixed = addresses(plane, sid)[0][1]
    made = plane.call("POST", "/os-floating-ips", version=PROXY, json={"pool": "public"})
    assert made.status_code == 200, made.text
    fip = made.json()["floating_ip"]
    assert fip == {"id": fip["id"], "ip": fip["ip"], "pool": "public", "fixed_ip": None,
                   "instance_id": None}
    assert fip["ip"].startswith("172.24.4.")
    listed = plane.ok("GET", "/os-floating-ips", version=PROXY)["floating_ips"]
    assert listed == [fip]
    assert plane.ok("GET", f"/os-floating-ips/{fip['id']}", version=PROXY) == {
        "floating_ip": fip}
    assert plane.call("GET", f"/os-floating-ips/{fip['id']}", "bob",
                      version=PROXY).status_code == 404
    assert plane.ok("GET", "/os-floating-ips", "bob", version=PROXY) == {"floating_ips": []}

    casts.clear()
    added = action(plane, sid, {"addFloatingIp": {"address": fip["ip"]}})
    assert added.status_code == 202, added.text
    assert casts == [(host, [sid])]
    assert addresses(plane, sid) == [("fixed", fixed), ("floating", fip["ip"])]
    shown = plane.ok("GET", f"/os-floating-ips/{fip['id']}", version=PROXY)["floating_ip"]
    assert (shown["instance_id"], shown["fixed_ip"]) == (sid, fixed)
    # the actions are gone from 2.44
    assert action(plane, sid, {"removeFloatingIp": {"address": fip["ip"]}},
                  version="2.44").status_code == 404
    assert action(plane, sid, {"addFloatingIp": {"address": fip["ip"]}},
                  version="2.100").status_code == 404

    removed = action(plane, sid, {"removeFloatingIp": {"address": fip["ip"]}})
    assert removed.status_code == 202, removed.text
    assert addresses(plane, sid) == [("fixed", fixed)]
    again = action(plane, sid, {"removeFloatingIp": {"address": fip["ip"]}})
    assert again.status_code == 409, again.text

    # released while associated: taken from the server first
    assert action(plane, sid, {"addFloatingIp": {"address": fip["ip"],
                                                 "fixed_address": fixed}}).status_code == 202
    casts.clear()
    released = plane.call("DELETE", f"/os-floating-ips/{fip['id']}", version=PROXY)
    assert released.status_code == 202 and not released.content
    assert casts == [(host, [sid])]
    assert addresses(plane, sid) == [("fixed", fixed)]
    assert plane.ok("GET", "/os-floating-ips", version=PROXY) == {"floating_ips": []}
    assert plane.call("DELETE", f"/os-floating-ips/{fip['id']}",
                      version=PROXY).status_code == 404


def test_floating_ip_refusals(plane: Plane) -> None:
    bare = plane.create(name="bare")
    server = plane.create(networks="auto")
    fip = plane.ok("POST", "/os-floating-ips", version=PROXY)["floating_ip"]  # no body
    null = plane.ok("POST", "/os-floating-ips", version=PROXY, json=None)["floating_ip"]
    assert fip["pool"] == null["pool"] == "public" and fip["ip"] != null["ip"]
    unknown = plane.call("POST", "/os-floating-ips", version=PROXY, json={"pool": "nope"})
    assert unknown.status_code == 404
    no_net = action(plane, bare["id"], {"addFloatingIp": {"address": fip["ip"]}})
    assert no_net.status_code == 400 and "no network" in no_net.text
    wrong_fixed = action(plane, server["id"], {"addFloatingIp": {
        "address": fip["ip"], "fixed_address": "10.99.0.1"}})
    assert wrong_fixed.status_code == 400
    assert action(plane, server["id"], {"addFloatingIp": {"address": "nonsense"}}
                  ).status_code == 400
    # not allocated to the project: as good as missing
    assert action(plane, server["id"], {"addFloatingIp": {"address": "172.24.4.120"}}
                  ).status_code == 404
    theirs = plane.ok("POST", "/os-floating-ips", "bob", version=PROXY)["floating_ip"]
    assert action(plane, server["id"], {"addFloatingIp": {"address": theirs["ip"]}}
                  ).status_code == 404
    assert plane.call("DELETE", f"/os-floating-ips/{theirs['id']}",
                      version=PROXY).status_code == 404
    assert plane.call("POST", "/os-floating-ips", "ann", version=PROXY).status_code == 403


def test_pool_exhausted(plane: Plane) -> None:
    with plane.service.db.transaction() as tx:
        tx.execute(sa.update(net_models.FloatingIp).values(project_id="someone-else"))
    resp = plane.call("POST", "/os-floating-ips", version=PROXY, json={"pool": "public"})
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == "No more floating IPs in pool public."


def test_deleting_a_server_frees_its_addresses(plane: Plane) -> None:
    server = plane.create(networks="auto")
    fixed = addresses(plane, server["id"])[0][1]
    fip = plane.ok("POST", "/os-floating-ips", version=PROXY)["floating_ip"]
    assert action(plane, server["id"], {"addFloatingIp": {"address": fip["ip"]}}
                  ).status_code == 202
    plane.ok("DELETE", f"/servers/{server['id']}")
    plane.wait_gone(server["id"])
    kept = plane.ok("GET", f"/os-floating-ips/{fip['id']}", version=PROXY)["floating_ip"]
    assert (kept["instance_id"], kept["fixed_ip"]) == (None, None)
    with plane.service.db.reading() as tx:
        holder = tx.scalar(sa.select(net_models.FixedIp.instance_id).where(
            net_models.FixedIp.address == fixed))
    assert holder is None
    later = plane.create(name="later", networks="auto")
    assert addresses(plane, later["id"])[0][0] == "fixed"
    assert action(plane, later["id"], {"addFloatingIp": {"address": fip["ip"]}}
                  ).status_code == 202
    assert ("floating", fip["ip"]) in addresses(plane, later["id"])



# -- quotas (Nova's legacy floating_ips, security_groups, security_group_rules) ----------

def project_a(plane: Plane) -> str:
    return plane.cloud.identity.resources.list_projects(ProjectFilter(name="a"))[0].id


def set_quota(plane: Plane, **limits: int) -> None:
    plane.ok("PUT", f"/os-quota-sets/{project_a(plane)}", "admin", version=PROXY,
             json={"quota_set": limits})


def parallel(count: int, make: Any) -> list[Any]:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(make, range(count)))


def limits(plane: Plane) -> dict[str, int]:
    found: dict[str, int] = plane.ok("GET", "/limits", version=PROXY)["limits"]["absolute"]
    return found


def test_floating_ip_quota_holds_under_parallel_allocations(plane: Plane) -> None:
    set_quota(plane, floating_ips=3)
    replies = parallel(8, lambda _: plane.call("POST", "/os-floating-ips", version=PROXY,
                                               json={"pool": "public"}))
    assert sorted(r.status_code for r in replies) == [200] * 3 + [403] * 5
    refused = next(r for r in replies if r.status_code == 403)
    assert refused.json()["forbidden"]["message"] == "IP allocation over quota in pool public."
    assert len(plane.ok("GET", "/os-floating-ips", version=PROXY)["floating_ips"]) == 3
    over = plane.call("POST", "/os-floating-ips", version=PROXY)
    assert over.json()["forbidden"]["message"] == "IP allocation over quota."
    shown = limits(plane)
    assert shown["maxTotalFloatingIps"] == 3 and shown["totalFloatingIpsUsed"] == 3
    detail = plane.ok("GET", f"/os-quota-sets/{project_a(plane)}/detail",
                      version=PROXY)["quota_set"]
    assert detail["floating_ips"] == {"in_use": 3, "limit": 3, "reserved": 0}
    assert plane.call("PUT", f"/os-quota-sets/{project_a(plane)}", "admin", version=PROXY,
                      json={"quota_set": {"floating_ips": 2}}).status_code == 400
    assert plane.call("PUT", f"/os-quota-sets/{project_a(plane)}", "alice", version=PROXY,
                      json={"quota_set": {"floating_ips": 50}}).status_code == 403
    # another project's room is its own
    assert plane.call("POST", "/os-floating-ips", "bob", version=PROXY).status_code == 200


def test_security_group_quota_holds_under_parallel_creates(plane: Plane) -> None:
    groups(plane)  # the default group: it counts, as in Nova
    set_quota(plane, security_groups=4)
    replies = parallel(8, lambda i: plane.call(
        "POST", "/os-security-groups", version=PROXY,
        json={"security_group": {"name": f"g{i}", "description": "d"}}))
    assert sorted(r.status_code for r in replies) == [200] * 3 + [403] * 5
    refused = next(r for r in replies if r.status_code == 403)
    assert refused.json()["forbidden"]["message"] == (
        "Quota exceeded, too many security groups.")
    assert len(groups(plane)) == 4
    shown = limits(plane)
    assert shown["maxSecurityGroups"] == 4 and shown["totalSecurityGroupsUsed"] == 4


def test_security_group_rule_quota_holds_per_project(plane: Plane) -> None:
    """The network's ``security_group_rule`` limit: every rule of the project's groups
    counts (as with Nova over Neutron), here 6 of default's and 2 egress rules of web's."""
    web = make_group(plane, "web")
    set_quota(plane, security_group_rules=13)
    replies = parallel(8, lambda i: add_rule(plane, web["id"], ip_protocol="tcp",
                                             from_port=1000 + i, to_port=1000 + i,
                                             cidr="10.0.0.0/8"))
    assert sorted(r.status_code for r in replies) == [200] * 5 + [403] * 3
    refused = next(r for r in replies if r.status_code == 403)
    assert refused.json()["forbidden"]["message"] == (
        "Quota exceeded, too many security group rules.")
    assert len(plane.ok("GET", f"/os-security-groups/{web['id']}",
                        version=PROXY)["security_group"]["rules"]) == 5
    assert limits(plane)["maxSecurityGroupRules"] == 13
    # a group source without a protocol adds three rules at once: all or none
    set_quota(plane, security_group_rules=20)
    other = make_group(plane, "db")  # 15 rules now
    for port in (1, 2, 3):
        assert add_rule(plane, other["id"], ip_protocol="tcp", from_port=port, to_port=port,
                        cidr="10.0.0.0/8").status_code == 200
    assert add_rule(plane, other["id"], group_id=str(web["id"])).status_code == 403
    assert len(plane.ok("GET", f"/os-security-groups/{other['id']}",
                        version=PROXY)["security_group"]["rules"]) == 3
