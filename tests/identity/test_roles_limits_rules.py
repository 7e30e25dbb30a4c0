"""Implied roles, unified limits, access rules and system roles, as Keystone serves them."""

from __future__ import annotations

from typing import Any

import pytest

from labs.common.access_rules import path_matches
from labs.identity import models
from labs.identity.assignments import Grant
from tests.conftest import ADMIN_PASSWORD, Cloud
from tests.identity.test_bad_input import Api, api, role_id  # noqa: F401 -- the fixture

V3 = "/identity/v3"


def scoped_token(cloud: Cloud, user: str, password: str, scope: Any) -> str:
    resp = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": scope}})
    assert resp.status_code == 201, resp.text
    return str(resp.headers["X-Subject-Token"])


def token_roles(cloud: Cloud, token: str) -> set[str]:
    resp = cloud.client.get(f"{V3}/auth/tokens", headers={"X-Auth-Token": token,
                                                         "X-Subject-Token": token})
    return {r["name"] for r in resp.json()["token"]["roles"]}


# -- implied roles ---------------------------------------------------------------------


def test_implied_roles_lifecycle_and_tokens(cloud: Cloud, api: Api) -> None:  # noqa: F811
    ops = api.ok("POST", "/roles", {"role": {"name": "ops"}})["role"]
    audit = api.ok("POST", "/roles", {"role": {"name": "audit"}})["role"]
    member = role_id(api, "member")
    path = f"/roles/{ops['id']}/implies/{audit['id']}"
    resp = api.call("PUT", path)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["role_inference"]["prior_role"]["name"] == "ops"
    assert body["role_inference"]["implies"]["id"] == audit["id"]
    assert body["links"]["self"].endswith(f"/v3{path}")
    assert api.call("PUT", path).status_code == 201  # idempotent
    assert api.ok("GET", path)["role_inference"]["implies"]["name"] == "audit"
    assert api.call("HEAD", path).status_code == 204
    api.ok("PUT", f"/roles/{audit['id']}/implies/{member}")
    listed = api.ok("GET", f"/roles/{ops['id']}/implies")["role_inference"]
    assert [r["name"] for r in listed["implies"]] == ["audit"]
    rules = {r["prior_role"]["name"]: [i["name"] for i in r["implies"]]
             for r in api.ok("GET", "/role_inferences")["role_inferences"]}
    # the chain bootstrap makes, as data
    assert rules["admin"] == ["member"] and rules["member"] == ["reader"]
    assert rules["projectadmin"] == ["member"] and rules["ops"] == ["audit"]
    # a token carries the whole chain: ops -> audit -> member -> reader
    cloud.project("p")
    cloud.user("olga", "pw", {"p": "ops"})
    assert token_roles(cloud, cloud.token("olga", "pw", "p")) == {
        "ops", "audit", "member", "reader"}
    # the effective assignments show the implied ones, with the role that implies them
    olga = api.ok("GET", "/users?name=olga")["users"][0]["id"]
    effective = api.ok("GET", f"/role_assignments?effective&user.id={olga}")["role_assignments"]
    assert len(effective) == 4
    [reader] = [a for a in effective if a["role"]["id"] == role_id(api, "reader")]
    assert reader["links"]["prior_role"].endswith(f"/v3/roles/{member}")
    only = api.ok("GET", f"/role_assignments?effective&user.id={olga}&role.id={member}")
    assert [a["role"]["id"] for a in only["role_assignments"]] == [member]
    assert len(api.ok("GET", f"/role_assignments?user.id={olga}")["role_assignments"]) == 1
    # removing a rule takes the implied roles away at once
    assert api.call("DELETE", path).status_code == 204
    api.refused(404, "GET", path)
    api.refused(404, "DELETE", path)
    assert token_roles(cloud, cloud.token("olga", "pw", "p")) == {"ops"}


def test_implied_roles_refuse_cycles_admin_and_unknown_roles(api: Api) -> None:  # noqa: F811
    admin, member, reader = (role_id(api, n) for n in ("admin", "member", "reader"))
    assert "cycle" in api.refused(409, "PUT", f"/roles/{reader}/implies/{member}")
    api.refused(409, "PUT", f"/roles/{reader}/implies/{reader}")
    api.refused(403, "PUT", f"/roles/{member}/implies/{admin}")  # prohibited_implied_role
    api.refused(404, "PUT", f"/roles/nowhere/implies/{reader}")
    api.refused(404, "PUT", f"/roles/{reader}/implies/nowhere")
    api.refused(404, "GET", f"/roles/{reader}/implies/{admin}")
    api.refused(404, "GET", "/roles/nowhere/implies")
    # deleting a role takes its rules with it
    extra = api.ok("POST", "/roles", {"role": {"name": "extra"}})["role"]["id"]
    api.ok("PUT", f"/roles/{extra}/implies/{reader}")
    api.ok("DELETE", f"/roles/{extra}")
    assert "extra" not in {r["prior_role"]["name"] for r in
                           api.ok("GET", "/role_inferences")["role_inferences"]}


# -- unified limits ----------------------------------------------------------------------


def test_registered_limits_and_limits(cloud: Cloud, api: Api) -> None:  # noqa: F811
    compute = api.ok("POST", "/services", {"service": {"type": "compute"}})["service"]["id"]
    image = api.ok("POST", "/services", {"service": {"type": "image"}})["service"]["id"]
    resp = api.call("POST", "/registered_limits", {"registered_limits": [
        {"service_id": compute, "resource_name": "cores", "default_limit": 20},
        {"service_id": compute, "region_id": "RegionOne", "resource_name": "ram",
         "default_limit": 51200, "description": "MiB"},
        {"service_id": image, "resource_name": "images", "default_limit": -1}]})
    assert resp.status_code == 201, resp.text
    cores, ram, _images = resp.json()["registered_limits"]
    assert ram["region_id"] == "RegionOne" and ram["description"] == "MiB"
    assert cores["links"]["self"].endswith(f"/v3/registered_limits/{cores['id']}")
    listed = api.ok("GET", f"/registered_limits?service_id={compute}")["registered_limits"]
    assert {r["resource_name"] for r in listed} == {"cores", "ram"}
    assert [r["id"] for r in api.ok("GET", "/registered_limits?resource_name=ram&"
                                            "region_id=RegionOne")["registered_limits"]] == [
        ram["id"]]
    # a batch with one duplicate or one unknown service writes none of its items
    api.refused(409, "POST", "/registered_limits", {"registered_limits": [
        {"service_id": image, "resource_name": "snapshots", "default_limit": 1},
        {"service_id": compute, "resource_name": "cores", "default_limit": 1}]})
    api.refused(400, "POST", "/registered_limits", {"registered_limits": [
        {"service_id": image, "resource_name": "snapshots", "default_limit": 1},
        {"service_id": "nowhere", "resource_name": "x", "default_limit": 1}]})
    assert api.ok("GET", "/registered_limits?resource_name=snapshots")["registered_limits"] == []

    a, b = cloud.project("a"), cloud.project("b")
    cloud.user("ma", "pw", {"a": "member"})
    cloud.user("mb", "pw", {"b": "reader"})
    limits = api.ok("POST", "/limits", {"limits": [
        {"project_id": a, "service_id": compute, "resource_name": "cores",
         "resource_limit": 8},
        {"project_id": b, "service_id": compute, "resource_name": "cores",
         "resource_limit": 4, "description": "small"}]})["limits"]
    assert (limits[0]["project_id"], limits[0]["resource_limit"], limits[0]["domain_id"]) == (
        a, 8, None)
    # no registered limit for it (region differs): Keystone's 403
    api.refused(403, "POST", "/limits", {"limits": [
        {"project_id": a, "service_id": compute, "resource_name": "cores",
         "region_id": "RegionOne", "resource_limit": 1}]})
    api.refused(409, "POST", "/limits", {"limits": [
        {"project_id": a, "service_id": compute, "resource_name": "cores",
         "resource_limit": 9}]})
    api.refused(400, "POST", "/limits", {"limits": [
        {"project_id": "nowhere", "service_id": compute, "resource_name": "cores",
         "resource_limit": 9}]})
    # a project's members see their project's limits, and only those
    for user, project, mine in (("ma", "a", limits[0]), ("mb", "b", limits[1])):
        h = cloud.headers(cloud.token(user, "pw", project))
        seen = cloud.client.get(f"{V3}/limits", headers=h).json()["limits"]
        assert [x["id"] for x in seen] == [mine["id"]]
        other = limits[1] if mine is limits[0] else limits[0]
        assert cloud.client.get(f"{V3}/limits/{other['id']}", headers=h).status_code == 403
        assert cloud.client.get(f"{V3}/limits/{mine['id']}", headers=h).status_code == 200
    assert len(api.ok("GET", f"/limits?project_id={a}")["limits"]) == 1
    assert api.ok("GET", "/limits/model")["model"]["name"] == "flat"
    # a registered limit in use keeps its resource and stays; its default may change
    api.refused(403, "DELETE", f"/registered_limits/{cores['id']}")
    api.refused(403, "PATCH", f"/registered_limits/{cores['id']}",
                {"registered_limit": {"resource_name": "vcpus"}})
    assert api.ok("PATCH", f"/registered_limits/{cores['id']}", {"registered_limit": {
        "default_limit": 30}})["registered_limit"]["default_limit"] == 30
    assert api.ok("PATCH", f"/limits/{limits[0]['id']}", {"limit": {
        "resource_limit": 16}})["limit"]["resource_limit"] == 16
    api.refused(400, "PATCH", f"/limits/{limits[0]['id']}", {"limit": {"project_id": b}})
    for limit in limits:
        api.ok("DELETE", f"/limits/{limit['id']}")
    api.refused(404, "GET", f"/limits/{limits[0]['id']}")
    api.ok("DELETE", f"/registered_limits/{cores['id']}")
    api.refused(404, "DELETE", f"/registered_limits/{cores['id']}")


@pytest.mark.parametrize("body", [
    {"registered_limits": []},
    {"registered_limits": [{"service_id": "s", "resource_name": "r"}]},
    {"registered_limits": [{"service_id": "s", "resource_name": "r", "default_limit": "1"}]},
    {"registered_limits": [{"service_id": "s", "resource_name": "r", "default_limit": -2}]},
    {"registered_limits": [{"service_id": "s", "resource_name": "r", "default_limit": 2**31}]},
    {"registered_limits": [{"service_id": "s", "resource_name": "", "default_limit": 1}]},
    {"registered_limits": [{"service_id": "s", "resource_name": "r", "default_limit": 1,
                            "extra": 1}]},
    {"registered_limit": {"service_id": "s", "resource_name": "r", "default_limit": 1}},
])
def test_registered_limit_bad_input(api: Api, body: Any) -> None:  # noqa: F811
    api.refused(400, "POST", "/registered_limits", body)


@pytest.mark.parametrize("item", [
    {"service_id": "s", "resource_name": "r", "resource_limit": 1},  # no owner
    {"project_id": "p", "domain_id": "d", "service_id": "s", "resource_name": "r",
     "resource_limit": 1},
    {"project_id": "p", "service_id": "s", "resource_name": "r", "resource_limit": 1.5},
    {"project_id": "p", "service_id": "s", "resource_name": "r"},
])
def test_limit_bad_input(api: Api, item: Any) -> None:  # noqa: F811
    api.refused(400, "POST", "/limits", {"limits": [item]})


# -- access rules ----------------------------------------------------------------------


def test_access_rule_globs() -> None:
    assert path_matches("/v2.1/servers", "/v2.1/servers")
    assert not path_matches("/v2.1/servers/abc", "/v2.1/servers")
    assert path_matches("/v2.1/servers/abc", "/v2.1/servers/*")
    assert path_matches("/v2.1/servers/abc", "/v2.1/servers/{server_id}")
    assert not path_matches("/v2.1/servers/abc/ips", "/v2.1/servers/*")
    assert path_matches("/v2.1/servers/abc/ips", "/v2.1/servers/**")
    assert path_matches("/v2.1/servers/abc/ips", "/v2.1/servers/*/ips")
    assert not path_matches("/v2x1/servers", "/v2.1/servers")  # "." is a dot


def app_cred_token(cloud: Cloud, cred: dict[str, Any]) -> str:
    resp = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": cred["id"], "secret": cred["secret"]}}}})
    assert resp.status_code == 201, resp.text
    return str(resp.headers["X-Subject-Token"])


def test_access_rules_restrict_the_token(cloud: Cloud) -> None:
    cloud.project("p")
    user = cloud.user("ann", "pw", {"p": "member"})
    h = cloud.headers(cloud.token("ann", "pw", "p"))
    creds = f"{V3}/users/{user}/application_credentials"
    rule = {"service": "identity", "method": "GET", "path": "/v3/auth/projects"}
    resp = cloud.client.post(creds, headers=h, json={"application_credential": {
        "name": "narrow", "access_rules": [rule]}})
    assert resp.status_code == 201, resp.text
    cred = resp.json()["application_credential"]
    [shown] = cred["access_rules"]
    assert {k: shown[k] for k in rule} == rule
    # the same rule again is the same rule (as Keystone)
    again = cloud.client.post(creds, headers=h, json={"application_credential": {
        "name": "narrow2", "access_rules": [rule]}}).json()["application_credential"]
    assert again["access_rules"][0]["id"] == shown["id"]
    by_id = cloud.client.post(creds, headers=h, json={"application_credential": {
        "name": "narrow3", "access_rules": [{"id": shown["id"]}]}})
    assert by_id.json()["application_credential"]["access_rules"][0]["id"] == shown["id"]
    listed = cloud.client.get(f"{V3}/users/{user}/access_rules", headers=h).json()
    assert [r["id"] for r in listed["access_rules"]] == [shown["id"]]
    got = cloud.client.get(f"{V3}/users/{user}/access_rules/{shown['id']}", headers=h)
    assert got.json()["access_rule"]["path"] == "/v3/auth/projects"

    token = app_cred_token(cloud, cred)
    th = {"X-Auth-Token": token}
    assert cloud.client.get(f"{V3}/auth/projects", headers=th).status_code == 200
    for method, path in (("GET", "/auth/catalog"), ("GET", f"/users/{user}"),
                         ("DELETE", f"/users/{user}/access_rules/{shown['id']}")):
        refused = cloud.client.request(method, f"{V3}{path}", headers=th)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == 401
    validated = cloud.client.get(f"{V3}/auth/tokens", headers={**h, "X-Subject-Token": token})
    assert validated.json()["token"]["application_credential"]["access_rules"] == [rule]

    # a rule in use stays; once no credential uses it, it goes
    rule_path = f"{V3}/users/{user}/access_rules/{shown['id']}"
    assert cloud.client.delete(rule_path, headers=h).status_code == 403
    for c in (cred, again, by_id.json()["application_credential"]):
        assert cloud.client.delete(f"{creds}/{c['id']}", headers=h).status_code == 204
    assert cloud.client.delete(rule_path, headers=h).status_code == 204
    assert cloud.client.get(rule_path, headers=h).status_code == 404


@pytest.mark.parametrize("rule", [
    {"service": "compute", "method": "FETCH", "path": "/v2.1/servers"},
    {"service": "compute", "method": "GET", "path": "v2.1/servers"},
    {"service": "Compute", "method": "GET", "path": "/v2.1/servers"},
    {"service": "compute", "method": "GET"},
    {"service": "compute", "method": "GET", "path": "/x", "extra": 1},
    {"id": "nowhere"},
])
def test_access_rule_bad_input(cloud: Cloud, rule: Any) -> None:
    cloud.project("p")
    user = cloud.user("bea", "pw", {"p": "member"})
    h = cloud.headers(cloud.token("bea", "pw", "p"))
    resp = cloud.client.post(f"{V3}/users/{user}/application_credentials", headers=h,
                             json={"application_credential": {"name": "bad",
                                                              "access_rules": [rule]}})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == 400, resp.text
    assert cloud.client.get(f"{V3}/users/{user}/access_rules", headers=h).json()[
        "access_rules"] == []


# -- system roles ----------------------------------------------------------------------


def test_system_reader_reads_everything_and_changes_nothing(cloud: Cloud,
                                                            api: Api) -> None:  # noqa: F811
    sue = cloud.user("sue", "pw")
    reader = role_id(api, "reader")
    assert api.call("PUT", f"/system/users/{sue}/roles/{reader}").status_code == 204
    assert api.call("HEAD", f"/system/users/{sue}/roles/{reader}").status_code == 204
    assert [r["name"] for r in api.ok("GET", f"/system/users/{sue}/roles")["roles"]] == [
        "reader"]
    system = api.ok("GET", "/role_assignments?scope.system=all")["role_assignments"]
    assert {"scope": {"system": {"all": True}}, "user": {"id": sue},
            "role": {"id": reader}} in [{k: a[k] for k in ("scope", "user", "role")}
                                        for a in system]
    token = scoped_token(cloud, "sue", "pw", {"system": {"all": True}})
    h = cloud.headers(token)
    for path in ("/projects", "/users", "/domains", "/groups", "/role_inferences",
                 "/role_assignments?scope.system=all", f"/users/{sue}"):
        assert cloud.client.get(f"{V3}{path}", headers=h).status_code == 200, path
    for method, path, body in (("POST", "/projects", {"project": {"name": "no"}}),
                               ("PUT", f"/system/users/{sue}/roles/{role_id(api, 'admin')}",
                                None),
                               ("POST", "/roles", {"role": {"name": "no"}})):
        assert cloud.client.request(method, f"{V3}{path}", headers=h,
                                    json=body).status_code == 403, path
    # a project-scoped reader is not a system reader
    cloud.project("p")
    cloud.user("pat", "pw", {"p": "reader"})
    ph = cloud.headers(cloud.token("pat", "pw", "p"))
    assert cloud.client.get(f"{V3}/projects", headers=ph).status_code == 403
    # no system role, no system scope
    resp = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "name": "pat", "domain": {"id": "default"}, "password": "pw"}}},
        "scope": {"system": {"all": True}}}})
    assert resp.status_code == 401


def test_system_admin_token(cloud: Cloud) -> None:
    admin = cloud.identity.tokens.validate(cloud.admin_token()).user.id
    role = cloud.identity.assignments.list_roles("admin")[0].id
    cloud.identity.assignments.create_grant(Grant(role, models.ACTOR_USER, admin,
                                                  models.TARGET_SYSTEM, models.SYSTEM_ID))
    token = scoped_token(cloud, "admin", ADMIN_PASSWORD, {"system": {"all": True}})
    assert token_roles(cloud, token) == {"admin", "member", "reader"}
    resp = cloud.client.post(f"{V3}/projects", headers=cloud.headers(token),
                             json={"project": {"name": "by-system-admin"}})
    assert resp.status_code == 201
