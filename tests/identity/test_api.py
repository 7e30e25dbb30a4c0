"""The identity API in-process, on SQLite and MariaDB."""

from __future__ import annotations

from typing import Any

import pytest

from labs.identity.backends.base import UserFilter
from tests.conftest import ADMIN_PASSWORD, Cloud

V3 = "/identity/v3"

@pytest.fixture(params=["sql", "ldap"])
def identity_backend_kind(request: pytest.FixtureRequest) -> str:
    """This module passes with users and groups in SQL and in the directory."""
    return str(request.param)



def password_auth(user: str, password: str, scope: Any = None) -> dict[str, Any]:
    auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "domain": {"name": "Default"}, "password": password}}}}
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


def test_version_discovery_needs_no_token(cloud: Cloud) -> None:
    resp = cloud.client.get("/identity")
    assert resp.status_code == 300
    values = resp.json()["versions"]["values"]
    assert values[0]["id"].startswith("v3.")
    assert values[0]["links"][0]["href"] == "http://testserver/identity/v3/"
    resp = cloud.client.get(V3)
    assert resp.status_code == 200
    assert resp.json()["version"]["status"] == "stable"
    assert resp.headers["x-openstack-request-id"].startswith("req-")


def test_password_token_scoped_to_project_carries_roles_and_catalog(cloud: Cloud) -> None:
    resp = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(
        "admin", ADMIN_PASSWORD, {"project": {"name": "admin", "domain": {"id": "default"}}}))
    assert resp.status_code == 201, resp.text
    token = resp.json()["token"]
    assert resp.headers["X-Subject-Token"]
    assert token["project"]["name"] == "admin"
    # admin implies member implies reader (the rules bootstrap makes, as Keystone's)
    assert {r["name"] for r in token["roles"]} == {"admin", "member", "reader"}
    assert token["methods"] == ["password"]
    assert token["catalog"][0]["type"] == "identity"
    assert token["expires_at"].endswith("Z")


def test_unscoped_request_scopes_to_default_project(cloud: Cloud) -> None:
    resp = cloud.client.post(f"{V3}/auth/tokens", json=password_auth("admin", ADMIN_PASSWORD))
    assert resp.status_code == 201
    assert resp.json()["token"]["project"]["name"] == "admin"
    resp = cloud.client.post(f"{V3}/auth/tokens",
                             json=password_auth("admin", ADMIN_PASSWORD, "unscoped"))
    assert "project" not in resp.json()["token"]
    assert "catalog" not in resp.json()["token"]


def test_domain_and_system_scope(cloud: Cloud) -> None:
    resp = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(
        "admin", ADMIN_PASSWORD, {"system": {"all": True}}))
    assert resp.status_code == 201, resp.text
    assert resp.json()["token"]["system"] == {"all": True}
    # admin holds no role on the default domain: a domain token is refused
    resp = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(
        "admin", ADMIN_PASSWORD, {"domain": {"id": "default"}}))
    assert resp.status_code == 401
    admin = cloud.admin_token()
    role = cloud.identity.assignments.list_roles("admin")[0].id
    user = cloud.identity.users.list_users(UserFilter(name="admin"))[0].id
    assert cloud.client.put(f"{V3}/domains/default/users/{user}/roles/{role}",
                            headers=cloud.headers(admin)).status_code == 204
    resp = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(
        "admin", ADMIN_PASSWORD, {"domain": {"name": "Default"}}))
    assert resp.status_code == 201
    assert resp.json()["token"]["domain"]["id"] == "default"


def test_wrong_password_and_unknown_user_get_the_same_401(cloud: Cloud) -> None:
    bad = cloud.client.post(f"{V3}/auth/tokens", json=password_auth("admin", "nope"))
    unknown = cloud.client.post(f"{V3}/auth/tokens", json=password_auth("nobody", "nope"))
    assert bad.status_code == unknown.status_code == 401
    assert bad.json()["error"]["message"] == unknown.json()["error"]["message"]
    assert bad.json()["error"]["title"] == "Unauthorized"


def test_validate_check_and_revoke(cloud: Cloud) -> None:
    admin = cloud.admin_token()
    cloud.user("bob", "bobpw", {"demo": "member"})
    bob = cloud.token("bob", "bobpw", "demo")
    h = {"X-Auth-Token": admin, "X-Subject-Token": bob}
    resp = cloud.client.get(f"{V3}/auth/tokens", headers=h)
    assert resp.status_code == 200
    assert resp.json()["token"]["user"]["name"] == "bob"
    assert cloud.client.head(f"{V3}/auth/tokens", headers=h).status_code == 200
    # a user validates their own token
    own = {"X-Auth-Token": bob, "X-Subject-Token": bob}
    assert cloud.client.get(f"{V3}/auth/tokens", headers=own).status_code == 200
    assert cloud.client.delete(f"{V3}/auth/tokens", headers=h).status_code == 204
    assert cloud.client.get(f"{V3}/auth/tokens", headers=h).status_code == 404
    resp = cloud.client.get(f"{V3}/projects/{cloud.project('x1')}", headers=cloud.headers(bob))
    assert resp.status_code == 401


def test_rescoping_with_a_token_keeps_expiry_and_chains_audit_ids(cloud: Cloud) -> None:
    resp = cloud.client.post(f"{V3}/auth/tokens",
                             json=password_auth("admin", ADMIN_PASSWORD, "unscoped"))
    first = resp.json()["token"]
    token = resp.headers["X-Subject-Token"]
    resp = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": token}},
        "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}})
    assert resp.status_code == 401  # admin has no role on demo
    resp = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": token}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
    assert resp.status_code == 201
    second = resp.json()["token"]
    assert second["expires_at"][:19] == first["expires_at"][:19]
    assert second["audit_ids"][1] == first["audit_ids"][0]
    # revoking the original revokes the rescoped one
    rescoped = resp.headers["X-Subject-Token"]
    assert cloud.client.delete(f"{V3}/auth/tokens", headers={
        "X-Auth-Token": cloud.admin_token(), "X-Subject-Token": token}).status_code == 204
    assert cloud.client.get(f"{V3}/auth/tokens", headers={
        "X-Auth-Token": cloud.admin_token(), "X-Subject-Token": rescoped}).status_code == 404


def test_project_crud(cloud: Cloud) -> None:
    h = cloud.headers(cloud.admin_token())
    resp = cloud.client.post(f"{V3}/projects", headers=h,
                             json={"project": {"name": "tools", "description": "d"}})
    assert resp.status_code == 201, resp.text
    project = resp.json()["project"]
    assert project["domain_id"] == "default"
    assert project["links"]["self"].endswith(f"/identity/v3/projects/{project['id']}")
    resp = cloud.client.patch(f"{V3}/projects/{project['id']}", headers=h,
                              json={"project": {"description": "new"}})
    assert resp.json()["project"]["description"] == "new"
    names = [p["name"] for p in cloud.client.get(f"{V3}/projects", headers=h).json()["projects"]]
    assert names == sorted(names) and "tools" in names
    assert cloud.client.get(f"{V3}/projects?name=tools", headers=h).json()["projects"][0][
        "id"] == project["id"]
    assert cloud.client.delete(f"{V3}/projects/{project['id']}", headers=h).status_code == 204
    assert cloud.client.get(f"{V3}/projects/{project['id']}", headers=h).status_code == 404


def test_user_changes_own_password_and_old_tokens_die(cloud: Cloud) -> None:
    user_id = cloud.user("carol", "old-pw", {"demo": "member"})
    old = cloud.token("carol", "old-pw", "demo")
    resp = cloud.client.post(f"{V3}/users/{user_id}/password", headers=cloud.headers(old),
                             json={"user": {"original_password": "wrong", "password": "new"}})
    assert resp.status_code == 401
    resp = cloud.client.post(f"{V3}/users/{user_id}/password", headers=cloud.headers(old),
                             json={"user": {"original_password": "old-pw", "password": "new-pw"}})
    assert resp.status_code == 204
    assert cloud.client.get(f"{V3}/users/{user_id}", headers=cloud.headers(old)).status_code == 401
    resp = cloud.client.post(f"{V3}/auth/tokens", json=password_auth("carol", "new-pw"))
    assert resp.status_code == 201
    new = resp.headers["X-Subject-Token"]
    assert cloud.client.get(f"{V3}/users/{user_id}", headers=cloud.headers(new)).status_code == 200


def test_disabling_a_user_revokes_their_tokens(cloud: Cloud) -> None:
    user_id = cloud.user("dave", "pw", {"demo": "member"})
    token = cloud.token("dave", "pw", "demo")
    h = cloud.headers(cloud.admin_token())
    assert cloud.client.patch(f"{V3}/users/{user_id}", headers=h,
                              json={"user": {"enabled": False}}).status_code == 200
    assert cloud.client.get(f"{V3}/auth/projects", headers=cloud.headers(token)).status_code == 401
    resp = cloud.client.post(f"{V3}/auth/tokens", json=password_auth("dave", "pw"))
    assert resp.status_code == 401


def test_group_role_gives_member_access(cloud: Cloud) -> None:
    h = cloud.headers(cloud.admin_token())
    user_id = cloud.user("erin", "pw")
    resp = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(
        "erin", "pw", {"project": {"name": "demo", "domain": {"id": "default"}}}))
    assert resp.status_code == 401
    group = cloud.client.post(f"{V3}/groups", headers=h,
                              json={"group": {"name": "devs"}}).json()["group"]
    assert cloud.client.put(f"{V3}/groups/{group['id']}/users/{user_id}",
                            headers=h).status_code == 204
    demo = cloud.client.get(f"{V3}/projects?name=demo", headers=h).json()["projects"][0]
    member = cloud.client.get(f"{V3}/roles?name=member", headers=h).json()["roles"][0]
    assert cloud.client.put(f"{V3}/projects/{demo['id']}/groups/{group['id']}/roles/"
                            f"{member['id']}", headers=h).status_code == 204
    resp = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(
        "erin", "pw", {"project": {"name": "demo", "domain": {"id": "default"}}}))
    assert resp.status_code == 201
    assert [r["name"] for r in resp.json()["token"]["roles"]] == ["member", "reader"]
    resp = cloud.client.get(f"{V3}/role_assignments?effective&include_names&user.id={user_id}",
                            headers=h)
    # member, and reader as member implies it
    assignment, implied = resp.json()["role_assignments"]
    assert assignment["role"]["name"] == "member"
    assert implied["role"]["name"] == "reader"
    assert implied["links"]["prior_role"].endswith(f"/v3/roles/{member['id']}")
    assert assignment["user"]["name"] == "erin"
    assert assignment["scope"]["project"]["name"] == "demo"
    assert "membership" in assignment["links"]
    # removing the user from the group takes the access away at once
    assert cloud.client.delete(f"{V3}/groups/{group['id']}/users/{user_id}",
                               headers=h).status_code == 204
    resp = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(
        "erin", "pw", {"project": {"name": "demo", "domain": {"id": "default"}}}))
    assert resp.status_code == 401


def test_application_credential_lifecycle(cloud: Cloud) -> None:
    user_id = cloud.user("fay", "pw", {"demo": "member"})
    token = cloud.token("fay", "pw", "demo")
    h = cloud.headers(token)
    resp = cloud.client.post(f"{V3}/users/{user_id}/application_credentials", headers=h,
                             json={"application_credential": {"name": "ci"}})
    assert resp.status_code == 201, resp.text
    cred = resp.json()["application_credential"]
    assert cred["secret"] and {r["name"] for r in cred["roles"]} == {"member", "reader"}
    resp = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": cred["id"], "secret": cred["secret"]}}}})
    assert resp.status_code == 201, resp.text
    body = resp.json()["token"]
    assert body["project"]["name"] == "demo"
    assert body["application_credential"]["id"] == cred["id"]
    ac_token = resp.headers["X-Subject-Token"]
    resp = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": cred["id"], "secret": "wrong"}}}})
    assert resp.status_code == 401
    listed = cloud.client.get(f"{V3}/users/{user_id}/application_credentials", headers=h)
    assert "secret" not in listed.json()["application_credentials"][0]
    assert cloud.client.delete(f"{V3}/users/{user_id}/application_credentials/{cred['id']}",
                               headers=h).status_code == 204
    assert cloud.client.get(f"{V3}/auth/projects",
                            headers=cloud.headers(ac_token)).status_code == 401


def test_application_credential_role_restriction(cloud: Cloud) -> None:
    user_id = cloud.user("gus", "pw", {"demo": "member"})
    cloud.grant(user_id, "demo", "reader")
    h = cloud.headers(cloud.token("gus", "pw", "demo"))
    resp = cloud.client.post(f"{V3}/users/{user_id}/application_credentials", headers=h,
                             json={"application_credential": {"name": "ro",
                                                              "roles": [{"name": "reader"}]}})
    assert resp.status_code == 201
    cred = resp.json()["application_credential"]
    resp = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"], "application_credential": {
            "name": "ro", "user": {"name": "gus", "domain": {"id": "default"}},
            "secret": cred["secret"]}}}})
    assert [r["name"] for r in resp.json()["token"]["roles"]] == ["reader"]
    resp = cloud.client.post(f"{V3}/users/{user_id}/application_credentials", headers=h,
                             json={"application_credential": {"name": "x",
                                                              "roles": [{"name": "admin"}]}})
    assert resp.status_code == 400


def test_auth_projects_domains_system_and_catalog(cloud: Cloud) -> None:
    h = cloud.headers(cloud.admin_token())
    names = [p["name"] for p in cloud.client.get(f"{V3}/auth/projects",
                                                 headers=h).json()["projects"]]
    assert names == ["admin"]
    assert cloud.client.get(f"{V3}/auth/domains", headers=h).json()["domains"] == []
    assert cloud.client.get(f"{V3}/auth/system", headers=h).json()["system"] == [{"all": True}]
    catalog = cloud.client.get(f"{V3}/auth/catalog", headers=h).json()["catalog"]
    assert catalog[0]["endpoints"][0]["url"] == "http://testserver/identity"


def test_regions_services_endpoints(cloud: Cloud) -> None:
    h = cloud.headers(cloud.admin_token())
    svc = cloud.client.post(f"{V3}/services", headers=h,
                            json={"service": {"type": "image", "name": "glance"}}).json()
    sid = svc["service"]["id"]
    resp = cloud.client.post(f"{V3}/endpoints", headers=h, json={"endpoint": {
        "service_id": sid, "interface": "public", "url": "http://x/image",
        "region_id": "RegionOne"}})
    assert resp.status_code == 201
    eid = resp.json()["endpoint"]["id"]
    resp = cloud.client.get(f"{V3}/endpoints?service_id={sid}", headers=h)
    assert [e["id"] for e in resp.json()["endpoints"]] == [eid]
    catalog = cloud.client.get(f"{V3}/auth/catalog", headers=h).json()["catalog"]
    assert {c["type"] for c in catalog} == {"identity", "image"}
    assert cloud.client.delete(f"{V3}/services/{sid}", headers=h).status_code == 204
    assert cloud.client.get(f"{V3}/endpoints/{eid}", headers=h).status_code == 404
    assert cloud.client.delete(f"{V3}/regions/RegionOne", headers=h).status_code == 400


def test_openapi_document_lists_every_route(cloud: Cloud) -> None:
    doc = cloud.client.get(f"{V3}/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "post" in doc["paths"]["/v3/auth/tokens"]
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_healthz(cloud: Cloud) -> None:
    resp = cloud.client.get("/healthz")
    assert resp.status_code == 200 and resp.json()["status"] == "ok"
