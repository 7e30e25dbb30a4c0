"""Security groups and rules through the network API against a whole control plane (on
SQLite and MariaDB): Neutron's shapes, lists, the same rows compute's
``os-security-groups`` shows, groups in use, rules reaching the hosts, roles and other
projects, and bad input (a 4xx with Neutron's error type, never a 500)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.compute.conftest import Plane
from tests.network.api_helpers import error
from tests.network.test_api_floatingips import neutron, ok

PROXY = "2.35"
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"




def make_group(plane: Plane, name: str, who: str = "alice", **more: Any) -> dict[str, Any]:
    made: dict[str, Any] = ok(plane, "POST", "/security-groups", who, json={
        "security_group": {"name": name, **more}})["security_group"]
    return made


def make_rule(plane: Plane, group_id: str, who: str = "alice", **fields: Any) -> Any:
    return neutron(plane, "POST", "/security-group-rules", who, json={
        "security_group_rule": {"security_group_id": group_id, **fields}})


def test_a_new_group_and_the_default_one(plane: Plane) -> None:
    listed = ok(plane, "GET", "/security-groups")["security_groups"]
    (default,) = listed
    assert default["name"] == "default" and default["description"] == "Default security group"
    assert len(default["security_group_rules"]) == 6
    web = make_group(plane, "web", description="front")
    project = web["project_id"]
    rules = web["security_group_rules"]
    assert web == {"id": web["id"], "name": "web", "description": "front", "stateful": True,
                   "shared": False, "security_group_rules": rules, "tags": [],
                   "project_id": project, "tenant_id": project, "revision_number": 1,
                   "created_at": web["created_at"], "updated_at": web["updated_at"]}
    assert uuid.UUID(web["id"]) and project == default["project_id"]
    assert sorted(r["ethertype"] for r in rules) == ["IPv4", "IPv6"]
    for rule in rules:
        assert rule == {
            "id": rule["id"], "security_group_id": web["id"], "direction": "egress",
            "ethertype": rule["ethertype"], "protocol": None, "port_range_min": None,
            "port_range_max": None, "remote_ip_prefix": None, "remote_group_id": None,
            "remote_address_group_id": None, "normalized_cidr": None, "description": "",
            "project_id": project, "tenant_id": project, "revision_number": 0,
            "created_at": rule["created_at"], "updated_at": rule["updated_at"]}
    assert ok(plane, "GET", f"/security-groups/{web['id']}")["security_group"] == web
    # the same rows as compute's proxy
    legacy = plane.ok("GET", f"/os-security-groups/{web['id']}", version=PROXY)
    assert legacy["security_group"]["name"] == "web"
    changed = ok(plane, "PUT", f"/security-groups/{web['id']}", json={
        "security_group": {"name": "www", "description": "d"}})["security_group"]
    assert (changed["name"], changed["description"], changed["revision_number"]) == (
        "www", "d", 2)
    gone = neutron(plane, "DELETE", f"/security-groups/{web['id']}")
    assert gone.status_code == 204 and not gone.content
    error(neutron(plane, "GET", f"/security-groups/{web['id']}"), 404,
          "SecurityGroupNotFound")
    error(neutron(plane, "DELETE", f"/security-groups/{web['id']}"), 404,
          "SecurityGroupNotFound")
    error(neutron(plane, "POST", "/security-groups", json={
        "security_group": {"name": "default"}}), 409, "SecurityGroupDefaultAlreadyExists")
    error(neutron(plane, "PUT", f"/security-groups/{default['id']}", json={
        "security_group": {"name": "other"}}), 409, "SecurityGroupCannotUpdateDefault")
    error(neutron(plane, "DELETE", f"/security-groups/{default['id']}"), 409,
          "SecurityGroupCannotRemoveDefault")


def test_lists_filter_sort_and_page(plane: Plane) -> None:
    for name in ("b", "a", "c"):
        make_group(plane, name)
    names = [g["name"] for g in ok(plane, "GET", "/security-groups", params={
        "sort_key": "name", "sort_dir": "asc"})["security_groups"]]
    assert names == ["a", "b", "c", "default"]
    assert ok(plane, "GET", "/security-groups", params={"name": ["a", "c"], "fields": [
        "name", "id"]})["security_groups"][0].keys() == {"name", "id"}
    page = ok(plane, "GET", "/security-groups", params={
        "limit": 2, "sort_key": "name", "sort_dir": "desc"})
    assert [g["name"] for g in page["security_groups"]] == ["default", "c"]
    assert {link["rel"] for link in page["security_groups_links"]} == {"next", "previous"}
    error(neutron(plane, "GET", "/security-groups", params={"colour": "red"}), 400,
          "HTTPBadRequest")
    error(neutron(plane, "GET", "/security-groups", params={"limit": 1, "marker": "x"}),
          404, "SecurityGroupNotFound")
    group = make_group(plane, "web")
    assert make_rule(plane, group["id"], direction="ingress", protocol="tcp",
                     port_range_min=22, port_range_max=22).status_code == 201
    by_number = ok(plane, "GET", "/security-group-rules", params={
        "security_group_id": group["id"], "protocol": "6"})["security_group_rules"]
    assert [(r["protocol"], r["port_range_min"]) for r in by_number] == [("tcp", 22)]
    assert len(ok(plane, "GET", "/security-group-rules", params={
        "security_group_id": group["id"]})["security_group_rules"]) == 3
    error(neutron(plane, "GET", "/security-group-rules", params={"protocol": "nope"}), 400,
          "SecurityGroupRuleInvalidProtocol")
    error(neutron(plane, "GET", "/security-group-rules", params={"port_range_min": "x"}),
          400, "InvalidInput")


def test_rules_reach_the_hosts(plane: Plane, casts: list[Any]) -> None:
    web = make_group(plane, "web")
    server = plane.create(networks="auto", security_groups=[{"name": "web"}])
    sid = server["id"]
    host = plane.show(sid, "admin")["OS-EXT-SRV-ATTR:host"]
    casts.clear()
    made = make_rule(plane, web["id"], direction="ingress", protocol="tcp",
                     port_range_min=8080, port_range_max=8081,
                     remote_ip_prefix="192.0.2.7/24", description="web")
    assert made.status_code == 201, made.text
    rule = made.json()["security_group_rule"]
    assert rule["remote_ip_prefix"] == rule["normalized_cidr"] == "192.0.2.0/24"
    assert (rule["description"], rule["remote_address_group_id"]) == ("web", None)
    assert casts == [(host, [sid])]
    enforced = plane.conductor.network_specs([sid])[sid]["security"]["rules"]
    assert {"direction": "ingress", "protocol": "tcp", "port_min": 8080, "port_max": 8081,
            "remote_cidr": "192.0.2.0/24", "remote_group": None} in enforced
    error(make_rule(plane, web["id"], direction="ingress", protocol="tcp",
                    port_range_min=8080, port_range_max=8081,
                    remote_ip_prefix="192.0.2.0/24"), 409, "SecurityGroupRuleExists")
    assert ok(plane, "GET", f"/security-group-rules/{rule['id']}")[
        "security_group_rule"] == rule
    legacy = plane.ok("GET", f"/os-security-groups/{web['id']}", version=PROXY)
    assert [r["from_port"] for r in legacy["security_group"]["rules"]] == [8080]
    casts.clear()
    assert neutron(plane, "DELETE", f"/security-group-rules/{rule['id']}").status_code == 204
    assert casts == [(host, [sid])]
    enforced = plane.conductor.network_specs([sid])[sid]["security"]["rules"]
    assert all(r["port_min"] != 8080 for r in enforced)
    error(neutron(plane, "DELETE", f"/security-group-rules/{rule['id']}"), 404,
          "SecurityGroupRuleNotFound")
    # a group a live server is a member of cannot go
    error(neutron(plane, "DELETE", f"/security-groups/{web['id']}"), 409,
          "SecurityGroupInUse")
    plane.ok("DELETE", f"/servers/{sid}")
    plane.wait_gone(sid)
    assert neutron(plane, "DELETE", f"/security-groups/{web['id']}").status_code == 204


def test_remote_groups(plane: Plane) -> None:
    web = make_group(plane, "web")
    theirs = make_group(plane, "db", "bob")
    made = make_rule(plane, web["id"], direction="ingress", remote_group_id=web["id"])
    assert made.status_code == 201, made.text
    shown = made.json()["security_group_rule"]
    assert (shown["remote_group_id"], shown["normalized_cidr"]) == (web["id"], None)
    error(make_rule(plane, web["id"], direction="ingress", remote_group_id=theirs["id"]),
          404, "SecurityGroupNotFound")
    error(make_rule(plane, web["id"], "admin", direction="ingress",
                    remote_group_id=theirs["id"]), 404, "SecurityGroupNotFound")


@pytest.mark.parametrize(("fields", "kind"), [
    ({"direction": "ingress", "protocol": "bogus"}, "SecurityGroupRuleInvalidProtocol"),
    ({"direction": "ingress", "protocol": 300}, "SecurityGroupRuleInvalidProtocol"),
    ({"direction": "ingress", "protocol": "tcp", "port_range_min": 90,
      "port_range_max": 80}, "SecurityGroupInvalidPortRange"),
    ({"direction": "ingress", "protocol": "tcp", "port_range_min": 0,
      "port_range_max": 80}, "SecurityGroupInvalidPortValue"),
    ({"direction": "ingress", "port_range_min": 1, "port_range_max": 2},
     "SecurityGroupProtocolRequiredWithPorts"),
    ({"direction": "ingress", "protocol": "gre", "port_range_min": 1,
      "port_range_max": 2}, "SecurityGroupInvalidProtocolForPortRange"),
    ({"direction": "ingress", "protocol": "icmp", "port_range_max": 0},
     "SecurityGroupMissingIcmpType"),
    ({"direction": "ingress", "protocol": "icmp", "port_range_min": 256},
     "SecurityGroupInvalidIcmpValue"),
    ({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/33"}, "InvalidCIDR"),
    ({"direction": "ingress", "remote_ip_prefix": "nonsense"}, "InvalidCIDR"),
    ({"direction": "ingress", "remote_ip_prefix": "2001:db8::/32"},
     "SecurityGroupRuleParameterConflict"),
    ({"direction": "ingress", "ethertype": "IPv6", "remote_ip_prefix": "fe80::%eth0/128"},
     "InvalidCIDR"),
    ({"direction": "ingress", "ethertype": "IPv6",
      "remote_ip_prefix": "::%" + "x} accept; " * 20 + "/0"}, "InvalidCIDR"),
    ({"direction": "ingress", "ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"},
     "SecurityGroupRuleParameterConflict"),
    ({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "x"},
     "SecurityGroupRemoteGroupAndRemoteIpPrefix"),
    ({"direction": "ingress", "protocol": "icmpv6"},
     "SecurityGroupEthertypeConflictWithProtocol"),
    ({"direction": "sideways"}, "InvalidInput"),
    ({"direction": "ingress", "ethertype": "IPv5"}, "InvalidInput"),
    ({"direction": "ingress", "protocol": "tcp", "port_range_min": "x",
      "port_range_max": 1}, "InvalidInput"),
    ({"direction": "ingress", "colour": "red"}, "HTTPBadRequest"),
    ({"direction": "ingress", "remote_address_group_id": "x"}, "HTTPBadRequest"),
    ({"direction": 5}, "HTTPBadRequest"),
])
def test_bad_rules(plane: Plane, fields: dict[str, Any], kind: str) -> None:
    web = make_group(plane, "web")
    error(make_rule(plane, web["id"], **fields), 400, kind)


@pytest.mark.parametrize("body", [
    {"security_group": {"name": "x" * 256}},
    {"security_group": {"name": 5}},
    {"security_group": {"name": "web", "colour": "red"}},
    {"security_group": {"name": "web", "stateful": False}},
    {"security_group": {"name": "web", "stateful": "maybe"}},
    {"security_group": "web"},
    {"name": "web"},
    [],
])
def test_bad_group_bodies(plane: Plane, body: Any) -> None:
    error(neutron(plane, "POST", "/security-groups", json=body), 400, "HTTPBadRequest")


def test_bad_rule_bodies(plane: Plane) -> None:
    error(neutron(plane, "POST", "/security-group-rules", json={
        "security_group_rule": {"direction": "ingress"}}), 400, "HTTPBadRequest")
    error(make_rule(plane, str(uuid.uuid4()), direction="ingress"), 404,
          "SecurityGroupNotFound")


def test_roles_and_other_projects(plane: Plane) -> None:
    web = make_group(plane, "web")
    rule = make_rule(plane, web["id"], direction="ingress", protocol="udp").json()[
        "security_group_rule"]
    # another project: invisible (404) and untouchable
    assert {g["name"] for g in ok(plane, "GET", "/security-groups", "bob")[
        "security_groups"]} == {"default"}
    assert rule["id"] not in {r["id"] for r in ok(
        plane, "GET", "/security-group-rules", "bob")["security_group_rules"]}
    for method, path, body in (
            ("GET", f"/security-groups/{web['id']}", None),
            ("PUT", f"/security-groups/{web['id']}", {"security_group": {"name": "x"}}),
            ("DELETE", f"/security-groups/{web['id']}", None),
            ("GET", f"/security-group-rules/{rule['id']}", None),
            ("DELETE", f"/security-group-rules/{rule['id']}", None)):
        kind = "SecurityGroupRuleNotFound" if "rules" in path else "SecurityGroupNotFound"
        error(neutron(plane, method, path, "bob", json=body), 404, kind)
    error(make_rule(plane, web["id"], "bob", direction="egress"), 404,
          "SecurityGroupNotFound")
    # a reader reads, never changes
    assert ok(plane, "GET", f"/security-groups/{web['id']}", "ann")
    for method, path, body in (
            ("POST", "/security-groups", {"security_group": {"name": "r"}}),
            ("PUT", f"/security-groups/{web['id']}", {"security_group": {"name": "x"}}),
            ("DELETE", f"/security-groups/{web['id']}", None),
            ("POST", "/security-group-rules", {"security_group_rule": {
                "security_group_id": web["id"], "direction": "egress"}}),
            ("DELETE", f"/security-group-rules/{rule['id']}", None)):
        error(neutron(plane, method, path, "ann", json=body), 403, "PolicyNotAuthorized")
    # no token
    assert plane.client.get("/network/v2.0/security-groups").status_code == 401
    # a member names no other project; an admin may, and sees every project's groups
    bob_project = make_group(plane, "db", "bob")["project_id"]
    error(neutron(plane, "POST", "/security-groups", json={"security_group": {
        "name": "x", "project_id": bob_project}}), 400, "HTTPBadRequest")
    error(neutron(plane, "POST", "/security-groups", json={"security_group": {
        "name": "x", "tenant_id": web["project_id"], "project_id": bob_project}}), 400,
        "HTTPBadRequest")
    assert make_group(plane, "own", project_id=web["project_id"])["name"] == "own"
    for_bob = make_group(plane, "ops", "admin", tenant_id=bob_project)
    assert for_bob["project_id"] == bob_project
    assert "ops" in {g["name"] for g in ok(plane, "GET", "/security-groups", "bob")[
        "security_groups"]}
    everyone = {(g["project_id"], g["name"]) for g in ok(
        plane, "GET", "/security-groups", "admin")["security_groups"]}
    assert {(web["project_id"], "web"), (bob_project, "db")} <= everyone
    assert neutron(plane, "DELETE", f"/security-group-rules/{rule['id']}",
                   "admin").status_code == 204
    error(make_rule(plane, web["id"], "admin", direction="egress", protocol="tcp",
                    project_id=bob_project), 400, "HTTPBadRequest")
    error(make_rule(plane, web["id"], direction="egress", protocol="tcp",
                    tenant_id=bob_project), 400, "HTTPBadRequest")
    assert make_rule(plane, web["id"], "admin", direction="egress", protocol="tcp",
                     project_id=web["project_id"]).status_code == 201


def test_quota(plane: Plane) -> None:
    project = make_group(plane, "web")["project_id"]  # default and web: 8 rules
    quotas = plane.service.network.quotas
    quotas.update(project, {"security_group": 2, "security_group_rule": 9})
    error(neutron(plane, "POST", "/security-groups", json={"security_group": {
        "name": "more"}}), 409, "OverQuota")
    web = ok(plane, "GET", "/security-groups", params={"name": "web"})["security_groups"][0]
    assert make_rule(plane, web["id"], direction="ingress", protocol="tcp").status_code == 201
    refused = error(make_rule(plane, web["id"], direction="ingress", protocol="udp"), 409,
                    "OverQuota")
    assert refused["message"] == "Quota exceeded for resources: ['security_group_rule']."
    # the compute proxy reads the same limits
    over = plane.call("POST", "/os-security-groups", version=PROXY, json={
        "security_group": {"name": "more", "description": ""}})
    assert over.status_code == 403, over.text


def test_servers_name_groups_by_name_or_id(plane: Plane, casts: list[Any]) -> None:
    """As Nova with Neutron: a server's groups given by id (what the CLI sends once it
    finds them through the network API) are its groups by name."""
    web, ops = make_group(plane, "web"), make_group(plane, "ops")
    theirs = make_group(plane, "db", "bob")
    server = plane.create(networks="auto", security_groups=[{"name": web["id"]}])
    sid = server["id"]
    assert plane.show(sid)["security_groups"] == [{"name": "web"}]
    casts.clear()
    assert plane.call("POST", f"/servers/{sid}/action", json={
        "addSecurityGroup": {"name": ops["id"]}}).status_code == 202
    assert sorted(g["name"] for g in plane.show(sid)["security_groups"]) == ["ops", "web"]
    assert len(casts) == 1
    assert plane.call("POST", f"/servers/{sid}/action", json={
        "removeSecurityGroup": {"name": web["id"]}}).status_code == 202
    assert plane.show(sid)["security_groups"] == [{"name": "ops"}]
    # another project's group, by id, is as good as missing
    refused = plane.call("POST", "/servers", json={"server": {
        "name": "x", "imageRef": plane.image_id, "flavorRef": "1", "networks": "auto",
        "security_groups": [{"name": theirs["id"]}]}})
    assert refused.status_code == 400 and theirs["id"] in refused.text, refused.text
    assert plane.call("POST", f"/servers/{sid}/action", json={
        "addSecurityGroup": {"name": theirs["id"]}}).status_code == 404
