"""Bad input: refused with the right code and ``{"error": {...}}``, never a 500.

Malformed JSON, JSON that is not an object, wrong types, missing fields,
unknown ids, duplicate names, oversized bodies, values no database can hold.
A refused request writes nothing: every identity write bumps one revision
counter in its own transaction, so an unchanged revision proves that nothing
was committed, half a request included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from labs.common.http import DEFAULT_MAX_BODY
from labs.identity import models
from labs.identity.api import build_api
from labs.identity.assignments import AssignmentFilter, Grant
from labs.identity.backends.base import UserFilter
from labs.identity.resources import ProjectFilter
from labs.identity.service import IdentityService
from tests.conftest import ADMIN_PASSWORD, Cloud

V3 = "/identity/v3"
JSON = {"content-type": "application/json"}
NOWHERE = "nonexistent0000"


@dataclass
class Api:
    """The identity API as the admin calls it; a crash comes back as a 500, not a raise."""

    cloud: Cloud
    client: TestClient
    token: str

    @property
    def identity(self) -> IdentityService:
        return self.cloud.identity

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             headers: dict[str, str] | None = None, token: str | None = "admin") -> httpx.Response:
        h = {"X-Auth-Token": self.token} if token == "admin" else (
            {"X-Auth-Token": token} if token else {})
        if body is not None:
            # json.dumps, unlike httpx, can send NaN and lone surrogates (as \ud800)
            raw = json.dumps(body).encode()
        if raw is not None:
            h.update(JSON)
        h.update(headers or {})
        return self.client.request(method, V3 + path, content=raw, headers=h)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.call(method, path, body)
        assert resp.is_success, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None

    def revision(self) -> int:
        return self.identity.store.revision()

    @contextmanager
    def writes_nothing(self) -> Iterator[None]:
        before = self.revision()
        yield
        assert self.revision() == before, "a refused request committed a write"

    def refused(self, code: int, method: str, path: str, body: Any = None, **kw: Any) -> str:
        """The call gets ``code`` with an OpenStack error body and writes nothing."""
        with self.writes_nothing():
            resp = self.call(method, path, body, **kw)
        assert resp.status_code == code, f"{method} {path}: {resp.status_code} {resp.text}"
        return error_message(resp, code)


def error_message(resp: httpx.Response, code: int) -> str:
    body = resp.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "title", "message"}, error
    assert error["code"] == code == resp.status_code, error
    assert isinstance(error["title"], str) and error["title"], error
    assert isinstance(error["message"], str) and error["message"], error
    return str(error["message"])


@pytest.fixture
def api(cloud: Cloud) -> Api:
    client = TestClient(cloud.client.app, base_url="http://testserver",
                        raise_server_exceptions=False)
    return Api(cloud, client, cloud.admin_token())


def role_id(api: Api, name: str) -> str:
    return api.identity.assignments.list_roles(name)[0].id


def admin_id(api: Api) -> str:
    return api.identity.users.list_users(UserFilter(name="admin"))[0].id


def project_id(api: Api, name: str) -> str:
    return api.identity.resources.list_projects(ProjectFilter(name=name))[0].id


def password_auth(scope: Any = None, password: str = ADMIN_PASSWORD) -> dict[str, Any]:
    auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {
        "user": {"name": "admin", "domain": {"id": "default"}, "password": password}}}}
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


# -- the body itself -----------------------------------------------------------------

MALFORMED = (b"{", b"}", b"{'project': {'name': 'x'}}", b'{"project": {"name": "x",}}',
             b'{"project": {"name": "x"}} trailing', b"project=x", b"\xff\xfe\xfd",
             b'{"project": {"name": "\xff"}}', b"\x00", b"nul", b"[1,", b'"unterminated')
NOT_OBJECTS = ([], "x", None, 1, 1.5, True, [{"project": {"name": "x"}}])


def test_malformed_json_is_400(api: Api) -> None:
    for path in ("/projects", "/users", "/auth/tokens", f"/users/{admin_id(api)}/password"):
        for raw in MALFORMED:
            message = api.refused(400, "POST", path, raw=raw)
            assert "Malformed" in message, (path, raw, message)
    for raw in MALFORMED:
        api.refused(400, "PATCH", f"/projects/{project_id(api, 'demo')}", raw=raw)


def test_json_that_is_not_an_object_is_400(api: Api) -> None:
    for path in ("/projects", "/users", "/groups", "/roles", "/auth/tokens"):
        for value in NOT_OBJECTS:
            api.refused(400, "POST", path, raw=json.dumps(value).encode())
        # the wrapper must be an object too
        key = path.strip("/").rstrip("s") if path != "/auth/tokens" else "auth"
        for value in NOT_OBJECTS:
            api.refused(400, "POST", path, {key: value})
    for value in NOT_OBJECTS:
        api.refused(400, "PATCH", f"/users/{admin_id(api)}", raw=json.dumps(value).encode())


def test_an_empty_body_where_one_is_needed_is_400(api: Api) -> None:
    assert "empty" in api.refused(400, "POST", "/projects", raw=b"")
    assert "empty" in api.refused(400, "POST", "/auth/tokens", raw=b"", token=None)


def test_wrong_content_type_is_415_and_json_flavours_are_accepted(api: Api) -> None:
    body = json.dumps({"project": {"name": "typed"}}).encode()
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/xml",
                  "multipart/form-data; boundary=x"):
        api.refused(415, "POST", "/projects", raw=body, headers={"content-type": ctype})
    resp = api.call("POST", "/projects", raw=body,
                    headers={"content-type": "application/json; charset=utf-8"})
    assert resp.status_code == 201, resp.text


def test_wrong_types_are_400(api: Api) -> None:
    user, demo = admin_id(api), project_id(api, "demo")
    cases: list[tuple[str, str, Any]] = [
        ("POST", "/projects", {"project": {"name": 5}}),
        ("POST", "/projects", {"project": {"name": "x", "enabled": "yes"}}),
        ("POST", "/projects", {"project": {"name": "x", "tags": "a,b"}}),
        ("POST", "/projects", {"project": {"name": "x", "tags": [1]}}),
        ("POST", "/projects", {"project": {"name": "x", "is_domain": True}}),
        ("POST", "/projects", {"project": {"name": "x", "domain_id": None}}),
        ("POST", "/projects", {"project": {"name": "x", "extra": "not an object"}}),
        ("PATCH", f"/projects/{demo}", {"project": {"enabled": None}}),
        ("PATCH", f"/projects/{demo}", {"project": {"extra": ["x"]}}),
        ("POST", "/users", {"user": {"name": ["a"]}}),
        ("POST", "/users", {"user": {"name": "x", "password": 1234}}),
        ("POST", "/users", {"user": {"name": "x", "enabled": 1}}),
        ("PATCH", f"/users/{user}", {"user": {"name": None}}),
        ("POST", f"/users/{user}/password", {"user": {"password": 1, "original_password": "x"}}),
        ("POST", "/groups", {"group": {"name": {"a": 1}}}),
        ("POST", "/roles", {"role": {"name": True}}),
        ("POST", "/domains", {"domain": {"name": "x", "enabled": "false"}}),
        ("POST", "/regions", {"region": {"id": 7}}),
        ("POST", "/services", {"service": {"type": "x", "enabled": "on"}}),
        ("POST", "/endpoints", {"endpoint": {"service_id": "s", "interface": "outside",
                                             "url": "http://x"}}),
        ("POST", "/endpoints", {"endpoint": {"service_id": "s", "interface": "public",
                                             "url": "not a url"}}),
        ("POST", f"/users/{user}/application_credentials",
         {"application_credential": {"name": "x", "roles": "admin"}}),
        ("POST", f"/users/{user}/application_credentials",
         {"application_credential": {"name": "x", "access_rules": [{"path": "/"}]}}),
        ("POST", "/auth/tokens", {"auth": {"identity": {"methods": "password"}}}),
        ("POST", "/auth/tokens", {"auth": {"identity": {"methods": [1]}}}),
        ("POST", "/auth/tokens", {"auth": {"identity": {"methods": ["token"],
                                                        "token": {"id": 5}}}}),
    ]
    for method, path, body in cases:
        api.refused(400, method, path, body)


def test_missing_fields_are_400(api: Api) -> None:
    user = admin_id(api)
    cases: list[tuple[str, str, Any]] = [
        ("POST", "/projects", {}), ("POST", "/projects", {"project": {}}),
        ("POST", "/projects", {"project": {"description": "no name"}}),
        ("PATCH", f"/projects/{project_id(api, 'demo')}", {"project": {}}),
        ("PATCH", "/domains/default", {"domain": {}}),
        ("POST", "/users", {"user": {"password": "x"}}),
        ("POST", f"/users/{user}/password", {"user": {"password": "x"}}),
        ("POST", "/groups", {"group": {}}), ("POST", "/roles", {"role": {}}),
        ("POST", "/domains", {"domain": {}}), ("POST", "/services", {"service": {}}),
        ("POST", "/endpoints", {"endpoint": {"interface": "public", "url": "http://x"}}),
        ("POST", f"/users/{user}/application_credentials", {"application_credential": {}}),
        ("POST", "/auth/tokens", {}), ("POST", "/auth/tokens", {"auth": {}}),
        ("POST", "/auth/tokens", {"auth": {"identity": {}}}),
        ("POST", "/auth/tokens", {"auth": {"identity": {"methods": []}}}),
        # a method named but its object missing, or named twice
        ("POST", "/auth/tokens", {"auth": {"identity": {"methods": ["password"]}}}),
        ("POST", "/auth/tokens", {"auth": {"identity": {
            "methods": ["password", "password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": "x"}}}}}),
        # a password without its user, a user without a password, a name without a domain
        ("POST", "/auth/tokens", {"auth": {"identity": {"methods": ["password"],
                                                        "password": {}}}}),
        ("POST", "/auth/tokens", {"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": "admin", "domain": {"id": "default"}}}}}}),
        ("POST", "/auth/tokens", {"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": "admin", "password": ADMIN_PASSWORD}}}}}),
        ("POST", "/auth/tokens", {"auth": {"identity": {
            "methods": ["application_credential"],
            "application_credential": {"secret": "s"}}}}),
    ]
    for method, path, body in cases:
        api.refused(400, method, path, body, token=None if path == "/auth/tokens" else "admin")


def test_bodies_over_the_limit_are_413(api: Api) -> None:
    head = {"project": {"name": "big", "pad": ""}}
    pad = DEFAULT_MAX_BODY - len(json.dumps(head).encode())
    exact = {"project": {"name": "big", "pad": "a" * pad}}
    assert len(json.dumps(exact).encode()) == DEFAULT_MAX_BODY
    over = {"project": {"name": "big", "pad": "a" * (pad + 1)}}
    api.refused(413, "POST", "/projects", over)
    # without a content-length (chunked): counted as it streams
    raw = json.dumps(over).encode()
    chunks = (raw[i:i + 8192] for i in range(0, len(raw), 8192))
    with api.writes_nothing():
        resp = api.client.post(V3 + "/projects", content=chunks,
                               headers={**JSON, "X-Auth-Token": api.token})
    assert resp.status_code == 413 and "content-length" not in resp.request.headers
    error_message(resp, 413)
    # routes without a body schema are limited too, and so is an anonymous caller
    api.refused(413, "PUT", f"/groups/{NOWHERE}/users/{NOWHERE}", raw=b"x" * (pad * 2))
    api.refused(413, "POST", "/auth/tokens", raw=b" " * (DEFAULT_MAX_BODY + 1), token=None)
    # a body of exactly the limit is read
    assert api.call("POST", "/projects", exact).status_code == 201


def test_unknown_ids_in_every_kind_of_path_are_404(api: Api) -> None:
    user, member, demo = admin_id(api), role_id(api, "member"), project_id(api, "demo")
    group = api.ok("POST", "/groups", {"group": {"name": "g404"}})["group"]["id"]
    service = api.ok("POST", "/services", {"service": {"type": "t404"}})["service"]["id"]
    x = NOWHERE
    paths: list[tuple[str, str, Any]] = []
    for kind, body in (("domains", {"domain": {"description": "d"}}),
                       ("projects", {"project": {"description": "d"}}),
                       ("users", {"user": {"description": "d"}}),
                       ("groups", {"group": {"description": "d"}}),
                       ("roles", {"role": {"description": "d"}}),
                       ("regions", {"region": {"description": "d"}}),
                       ("services", {"service": {"description": "d"}}),
                       ("endpoints", {"endpoint": {"enabled": True}})):
        paths += [("GET", f"/{kind}/{x}", None), ("PATCH", f"/{kind}/{x}", body),
                  ("DELETE", f"/{kind}/{x}", None)]
    paths += [
        ("GET", f"/users/{x}/projects", None), ("GET", f"/users/{x}/groups", None),
        ("GET", f"/users/{x}/application_credentials", None),
        ("GET", f"/users/{user}/application_credentials/{x}", None),
        ("DELETE", f"/users/{user}/application_credentials/{x}", None),
        ("GET", f"/groups/{x}/users", None),
        ("PUT", f"/groups/{x}/users/{user}", None), ("PUT", f"/groups/{group}/users/{x}", None),
        ("GET", f"/groups/{group}/users/{x}", None), ("HEAD", f"/groups/{x}/users/{user}", None),
        ("GET", f"/groups/{group}/users/{user}", None),  # exists, but not a member
        ("DELETE", f"/groups/{group}/users/{user}", None),
        ("DELETE", f"/groups/{x}/users/{user}", None),
        # grants: each part unknown in turn, on projects, domains and the system
        ("PUT", f"/projects/{x}/users/{user}/roles/{member}", None),
        ("PUT", f"/projects/{demo}/users/{x}/roles/{member}", None),
        ("PUT", f"/projects/{demo}/users/{user}/roles/{x}", None),
        ("PUT", f"/projects/{demo}/groups/{x}/roles/{member}", None),
        ("PUT", f"/domains/{x}/users/{user}/roles/{member}", None),
        ("PUT", f"/system/users/{x}/roles/{member}", None),
        ("PUT", f"/system/groups/{group}/roles/{x}", None),
        ("GET", f"/projects/{demo}/users/{user}/roles/{member}", None),  # not granted
        ("HEAD", f"/projects/{x}/users/{user}/roles/{member}", None),
        ("DELETE", f"/projects/{demo}/users/{user}/roles/{member}", None),  # not granted
        ("DELETE", f"/system/users/{user}/roles/{x}", None),
        ("GET", f"/projects/{x}/users/{user}/roles", None),
        ("GET", f"/domains/{demo}/users/{user}/roles", None),  # a project id is no domain
        ("GET", f"/system/groups/{x}/roles", None),
        # kinds of target or actor that do not exist
        ("PUT", f"/things/{demo}/users/{user}/roles/{member}", None),
        ("GET", f"/projects/{demo}/robots/{user}/roles", None),
        # unknown references inside a body
        ("POST", "/projects", {"project": {"name": "orphan", "parent_id": x}}),
        ("POST", "/projects", {"project": {"name": "orphan", "domain_id": x}}),
        ("POST", "/users", {"user": {"name": "orphan", "domain_id": x}}),
        ("POST", "/groups", {"group": {"name": "orphan", "domain_id": x}}),
        ("POST", "/regions", {"region": {"id": "orphan", "parent_region_id": x}}),
        ("POST", "/endpoints", {"endpoint": {"service_id": x, "interface": "public",
                                             "url": "http://x"}}),
        ("POST", "/endpoints", {"endpoint": {"service_id": service, "interface": "public",
                                             "url": "http://x", "region_id": x}}),
        ("PATCH", "/regions/RegionOne", {"region": {"parent_region_id": x}}),
        # routes that do not exist at all
        ("GET", "/nothing", None), ("GET", f"/projects/{demo}/nothing", None),
    ]
    for method, path, body in paths:
        resp = api.call(method, path, body)
        assert resp.status_code == 404, f"{method} {path}: {resp.status_code} {resp.text}"
        if method != "HEAD":
            error_message(resp, 404)
    # a token that is no token is not found either
    with api.writes_nothing():
        for method in ("GET", "DELETE"):
            resp = api.call(method, "/auth/tokens", headers={"X-Subject-Token": "garbage"})
            assert resp.status_code == 404, resp.text
            error_message(resp, 404)


def test_nothing_was_written_by_the_404s(api: Api) -> None:
    """The 404s above as one sweep over every route, ids made up, nothing committed."""
    fill = {"targets": "projects", "actors": "users"}
    with api.writes_nothing():
        for ep in build_api(api.identity).endpoints:
            if not re.search(r"\{\w+\}", ep.path.replace(":str", "")) or ep.schema is not None:
                continue
            path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: fill.get(m.group(1), NOWHERE), ep.path)
            resp = api.call(ep.method, path.removeprefix("/v3"))
            assert resp.status_code == 404, f"{ep.method} {path}: {resp.status_code}"


def test_method_not_allowed_is_405_with_the_error_body(api: Api) -> None:
    api.refused(405, "POST", "/roles/x")
    api.refused(405, "PATCH", "/auth/tokens", {"x": 1})


def test_duplicate_names_are_409_and_leave_one(api: Api) -> None:
    kinds = {"projects": ("project", "name", "dup"), "users": ("user", "name", "dup"),
             "groups": ("group", "name", "dup"), "roles": ("role", "name", "dup"),
             "domains": ("domain", "name", "dup"), "regions": ("region", "id", "dup")}
    for kind, (key, field, value) in kinds.items():
        first = api.ok("POST", f"/{kind}", {key: {field: value}})[key]
        api.refused(409, "POST", f"/{kind}", {key: {field: value, "description": "second"}})
        listed = [item for item in api.ok("GET", f"/{kind}")[kind] if item[field] == value]
        assert [item["id"] for item in listed] == [first["id"]], kind
    # existing names of the bootstrap are taken too
    api.refused(409, "POST", "/projects", {"project": {"name": "demo"}})
    api.refused(409, "POST", "/users", {"user": {"name": "admin", "password": "x"}})
    api.refused(409, "POST", "/roles", {"role": {"name": "member"}})
    api.refused(409, "POST", "/domains", {"domain": {"name": "Default"}})
    # renaming into a taken name changes nothing, not even the other fields sent along
    for kind, key in (("projects", "project"), ("users", "user"), ("groups", "group"),
                      ("roles", "role"), ("domains", "domain")):
        other = api.ok("POST", f"/{kind}", {key: {"name": f"other-{key}"}})[key]
        api.refused(409, "PATCH", f"/{kind}/{other['id']}",
                    {key: {"name": "dup", "description": "renamed"}})
        now = api.ok("GET", f"/{kind}/{other['id']}")[key]
        assert now["name"] == f"other-{key}" and now.get("description") in ("", None), now
    # application credential names are per user
    user = admin_id(api)
    api.ok("POST", f"/users/{user}/application_credentials",
           {"application_credential": {"name": "ci"}})
    api.refused(409, "POST", f"/users/{user}/application_credentials",
                {"application_credential": {"name": "ci"}})
    assert [c["name"] for c in api.ok("GET", f"/users/{user}/application_credentials")[
        "application_credentials"]] == ["ci"]


def test_invalid_project_names_are_400(api: Api) -> None:
    """Keystone's own refusals: empty, only white space, longer than 64 characters."""
    before = {p["name"] for p in api.ok("GET", "/projects")["projects"]}
    for name in ("", " ", "\t\n", "x" * 65, "é" * 65):
        api.refused(400, "POST", "/projects", {"project": {"name": name}})
    assert {p["name"] for p in api.ok("GET", "/projects")["projects"]} == before
    demo = project_id(api, "demo")
    api.refused(400, "PATCH", f"/projects/{demo}",
                {"project": {"name": "x" * 65, "description": "changed"}})
    assert api.ok("GET", f"/projects/{demo}")["project"]["name"] == "demo"
    for label in ("Upper", "-lead", "trail-", "1digit", "a_b", "a.b", "x" * 64, "", 5):
        api.refused(400, "POST", "/projects", {"project": {"name": "labelled", "label": label}})
    api.refused(400, "PATCH", f"/projects/{demo}", {"project": {"label": "other"}})
    api.refused(400, "PATCH", f"/projects/{demo}", {"project": {"label": "demo"}})


def test_bad_query_booleans_are_400(api: Api) -> None:
    for path in ("/projects", "/domains", "/users"):
        for value in ("maybe", "2", "truee", "null", "tru%20e"):
            message = api.refused(400, "GET", f"{path}?enabled={value}")
            assert "enabled" in message
        for value in ("true", "false", "1", "0", "yes", "no", ""):
            assert api.call("GET", f"{path}?enabled={value}").status_code == 200


def test_auth_scope_of_the_wrong_shape_is_400(api: Api) -> None:
    scopes: list[Any] = [
        [], "project", "", 5, None, True, {"project": "a"}, {"project": []},
        {"project": {"name": 5}}, {"project": {"id": ""}}, {"project": {}},
        {"project": {"name": "admin"}},  # a name without its domain
        {"project": {"name": "admin", "domain": {}}},
        {"project": {"id": "x"}, "domain": {"id": "default"}},  # two scopes at once
        {"domain": {}}, {"domain": "default"}, {"system": True}, {"system": {"all": False}},
        {"system": {}}, {"system": {"all": True, "more": 1}}, {"OS-TRUST:trust": {}},
        {"OS-TRUST:trust": "t"}, {"OS-TRUST:trust": {"id": "t"}, "project": {"id": "x"}},
        {"bogus": {}}, {"project": {"id": "x"}, "bogus": {}},
    ]
    for scope in scopes:
        body = password_auth()
        body["auth"]["scope"] = scope
        resp = api.call("POST", "/auth/tokens", body, token=None)
        assert resp.status_code == 400, f"scope {scope!r}: {resp.status_code} {resp.text}"
        error_message(resp, 400)


def test_unknown_scope_is_401_whether_named_or_given_by_id(api: Api) -> None:
    for scope in ({"project": {"id": NOWHERE}}, {"project": {"name": NOWHERE,
                                                           "domain": {"id": "default"}}},
                  {"project": {"name": "admin", "domain": {"name": NOWHERE}}},
                  {"project": {"name": "admin", "domain": {"id": NOWHERE}}},
                  {"domain": {"id": NOWHERE}}, {"domain": {"name": NOWHERE}}):
        resp = api.call("POST", "/auth/tokens", password_auth(scope), token=None)
        assert resp.status_code == 401, f"scope {scope!r}: {resp.status_code} {resp.text}"
        error_message(resp, 401)


# -- a refused request writes nothing --------------------------------------------------


def test_a_failed_request_leaves_nothing_half_written(api: Api) -> None:
    ids = api.identity
    demo, member, user = project_id(api, "demo"), role_id(api, "member"), admin_id(api)
    bob = api.ok("POST", "/users", {"user": {"name": "bob", "password": "pw",
                                             "email": "bob@example.org"}})["user"]["id"]
    # a user create that conflicts leaves no row
    api.refused(409, "POST", "/users", {"user": {"name": "bob", "password": "other"}})
    assert len(ids.users.list_users(UserFilter(name="bob"))) == 1
    assert api.call("POST", "/auth/tokens", {"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"id": bob, "password": "pw"}}}}},
        token=None).status_code == 201
    # a user create refused for its password leaves no row
    api.refused(400, "POST", "/users", {"user": {"name": "long", "password": "p" * 4097}})
    assert ids.users.list_users(UserFilter(name="long")) == []
    # a grant with an unknown role, user or project creates nothing
    api.refused(404, "PUT", f"/projects/{demo}/users/{bob}/roles/{NOWHERE}")
    api.refused(404, "PUT", f"/projects/{NOWHERE}/users/{bob}/roles/{member}")
    api.refused(404, "PUT", f"/system/users/{bob}/roles/{NOWHERE}")
    assert ids.assignments.list_assignments(AssignmentFilter(user_id=bob)) == []
    # a project under an unknown parent or in an unknown domain does not appear
    api.refused(404, "POST", "/projects", {"project": {"name": "kid", "parent_id": NOWHERE}})
    api.refused(404, "POST", "/projects", {"project": {"name": "kid", "domain_id": NOWHERE}})
    assert ids.resources.list_projects(ProjectFilter(name="kid")) == []
    # a rename that conflicts keeps every other change out as well
    api.refused(409, "PATCH", f"/users/{bob}", {"user": {"name": "admin", "email": "new@x"}})
    api.refused(400, "PATCH", f"/users/{bob}", {"user": {"domain_id": "x", "email": "new@x"}})
    api.refused(409, "PATCH", f"/projects/{demo}",
                {"project": {"name": "admin", "description": "changed", "enabled": False}})
    row = ids.resources.get_project(demo)
    assert (row.name, row.description, row.enabled) == ("demo", "A project to try Labs in", True)
    assert ids.users.get_user(bob).extra.get("email") == "bob@example.org"
    # a wrong original password changes nothing
    bob_token = api.call("POST", "/auth/tokens", {"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"id": bob, "password": "pw"}}}}},
        token=None).headers["X-Subject-Token"]
    api.refused(401, "POST", f"/users/{bob}/password",
                {"user": {"original_password": "wrong", "password": "new"}}, token=bob_token)
    # an endpoint in an unknown region, an endpoint moved to one: neither happens
    service = api.ok("POST", "/services", {"service": {"type": "half"}})["service"]["id"]
    api.refused(404, "POST", "/endpoints", {"endpoint": {
        "service_id": service, "interface": "public", "url": "http://x", "region_id": NOWHERE}})
    assert api.ok("GET", f"/endpoints?service_id={service}")["endpoints"] == []
    endpoint = api.ok("POST", "/endpoints", {"endpoint": {
        "service_id": service, "interface": "public", "url": "http://x"}})["endpoint"]
    api.refused(404, "PATCH", f"/endpoints/{endpoint['id']}",
                {"endpoint": {"url": "http://moved", "region_id": NOWHERE}})
    assert api.ok("GET", f"/endpoints/{endpoint['id']}")["endpoint"]["url"] == "http://x"
    # application credentials refused for their roles or expiry do not exist
    for fields in ({"roles": [{"name": "projectadmin"}]}, {"roles": [{"id": NOWHERE}]},
                   {"expires_at": "2001-01-01T00:00:00Z"}, {"expires_at": "next tuesday"},
                   # the zone moves these past the calendar's ends
                   {"expires_at": "9999-12-31T23:59:59-23:59"},
                   {"expires_at": "0001-01-01T00:00:00+23:59"}):
        api.refused(400, "POST", f"/users/{user}/application_credentials",
                    {"application_credential": {"name": "refused", **fields}})
    assert api.ok("GET", f"/users/{user}/application_credentials")[
        "application_credentials"] == []
    # deletes refused for what still depends on them take nothing with them
    parent = api.ok("POST", "/projects", {"project": {"name": "parent"}})["project"]["id"]
    api.ok("POST", "/projects", {"project": {"name": "child", "parent_id": parent}})
    api.ok("PUT", f"/projects/{parent}/users/{bob}/roles/{member}")
    api.refused(403, "DELETE", f"/projects/{parent}")
    api.ok("HEAD", f"/projects/{parent}/users/{bob}/roles/{member}")
    api.refused(400, "DELETE", "/regions/RegionOne")
    api.refused(403, "DELETE", "/domains/default")
    assert api.ok("GET", "/regions/RegionOne") and api.ok("GET", "/domains/default")


def test_null_descriptions_clear_them(api: Api) -> None:
    """The schemas accept ``"description": null``; every kind stores it as no description."""
    user = admin_id(api)
    made = {
        "domains": api.ok("POST", "/domains", {"domain": {"name": "nd", "description": "d"}}),
        "projects": api.ok("POST", "/projects", {"project": {"name": "nd", "description": "d"}}),
        "groups": api.ok("POST", "/groups", {"group": {"name": "nd", "description": "d"}}),
        "roles": api.ok("POST", "/roles", {"role": {"name": "nd", "description": "d"}}),
        "regions": api.ok("POST", "/regions", {"region": {"id": "nd", "description": "d"}}),
        "services": api.ok("POST", "/services", {"service": {"type": "nd", "description": "d"}}),
    }
    for kind, created in made.items():
        [(key, row)] = created.items()
        resp = api.call("PATCH", f"/{kind}/{row['id']}", {key: {"description": None}})
        assert resp.status_code == 200, f"{kind}: {resp.status_code} {resp.text}"
        assert resp.json()[key]["description"] in ("", None)
        assert api.ok("GET", f"/{kind}/{row['id']}")[key]["description"] in ("", None)
    for kind in ("domains", "projects", "groups", "roles", "services"):
        key = kind.removesuffix("s")
        resp = api.call("POST", f"/{kind}", {key: {("type" if kind == "services" else "name"):
                                                  "nd2", "description": None}})
        assert resp.status_code == 201, f"{kind}: {resp.text}"
    resp = api.call("POST", f"/users/{user}/application_credentials",
                    {"application_credential": {"name": "nd", "description": None}})
    assert resp.status_code == 201, resp.text


# -- values no database can hold -------------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_values_that_cannot_be_stored_or_sent_back_are_400(api: Api) -> None:
    hostile: list[tuple[str, bytes]] = [
        ("lone surrogate", b'{"project": {"name": "s1", "description": "\\ud800"}}'),
        ("lone surrogate in a key", b'{"user": {"name": "s2", "\\udfff": 1}}'),
        ("lone surrogate in a name", b'{"group": {"name": "\\ud800x"}}'),
        ("NaN", b'{"user": {"name": "n1", "options": {"x": NaN}}}'),
        ("Infinity", b'{"user": {"name": "n2", "nick": Infinity}}'),
        ("-Infinity", b'{"user": {"name": "n3", "nick": -Infinity}}'),
        ("overflowing float", b'{"user": {"name": "n4", "nick": 1e999}}'),
        ("huge integer", b'{"user": {"name": "n5", "nick": 1' + b"0" * 5000 + b"}}"),
        ("nested past recursion", b"[" * 100_000),
        ("nested objects past recursion", b'{"a":' * 20_000),
        ("deep value", json.dumps({"user": {"name": "d1", "nick": nested(40)}}).encode()),
        ("deep extra", json.dumps({"project": {"name": "d2", "extra": {"k": nested(40)}}})
         .encode()),
    ]
    paths = {b'{"project"': "/projects", b'{"user"': "/users", b'{"group"': "/groups"}
    for label, raw in hostile:
        path = next((p for prefix, p in paths.items() if raw.startswith(prefix)), "/projects")
        with api.writes_nothing():
            resp = api.call("POST", path, raw=raw)
        assert resp.status_code == 400, f"{label}: {resp.status_code} {resp.text[:300]}"
        error_message(resp, 400)
    # paired surrogates are just a character outside the BMP, and moderate depth is fine
    resp = api.call("POST", "/users", raw=b'{"user": {"name": "ok\\ud83d\\ude00", '
                                          b'"nick": [[[[[[[[1]]]]]]]]}}')
    assert resp.status_code == 201, resp.text
    assert resp.json()["user"]["name"] == "ok\U0001f600"
    assert resp.json()["user"]["nick"] == nested(8)


def test_text_longer_than_its_column_is_not_a_500(api: Api) -> None:
    """65535 characters pass the schema; in 3-byte characters they overflow a MariaDB TEXT."""
    text = "\u20ac" * 30_000  # 90000 bytes: under the body limit, over 65535 bytes
    sqlite = api.identity.store.db.is_sqlite
    for kind, body in (("projects", {"project": {"name": "long", "description": text}}),
                       ("roles", {"role": {"name": "long", "description": text}}),
                       ("regions", {"region": {"id": "long", "description": text}})):
        raw = json.dumps(body, ensure_ascii=False).encode()
        if sqlite:  # SQLite keeps text of any length
            resp = api.call("POST", f"/{kind}", raw=raw)
            assert resp.status_code == 201, resp.text
            assert next(iter(resp.json().values()))["description"] == text
        else:
            assert "too long" in api.refused(400, "POST", f"/{kind}", raw=raw)


def test_extra_fields_cannot_pass_for_the_ones_the_api_owns(api: Api) -> None:
    resp = api.call("POST", "/projects", {"project": {
        "name": "honest", "extra": {"id": "spoofed", "name": "other", "domain_id": "elsewhere",
                                    "colour": "blue"}}})
    assert resp.status_code == 201, resp.text
    project = resp.json()["project"]
    assert (project["name"], project["domain_id"], project["colour"]) == (
        "honest", "default", "blue")
    assert api.ok("GET", f"/projects/{project['id']}")["project"]["name"] == "honest"
    assert project["id"] == project_id(api, "honest")


# -- fuzz: every route that takes a body -----------------------------------------------

RAW_BAD = (b"", b"{", b"[]", b"null", b'"x"', b"1", b"{}", b'{"unexpected": 1}', b"\xff",
           b"NaN", b"[" * 5000)


def wrong_values(schema: dict[str, Any]) -> list[Any]:
    """Values this property schema must refuse (bounded: a handful per property)."""
    kinds = schema.get("type", [])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    out: list[Any] = [float("nan"), nested(40)]
    if "const" in schema:
        out.append(not schema["const"] if isinstance(schema["const"], bool) else 12345)
    if "enum" in schema:
        out.append("not-one-of-them")
    if "oneOf" in schema:
        out.append(12345)
    if "string" in kinds:
        out += [12345, "\ud800"]
        if schema.get("minLength"):
            out.append("")
        if "maxLength" in schema:
            out.append("x" * (schema["maxLength"] + 1))
    if "boolean" in kinds:
        out += ["yes", 0]
    if "array" in kinds:
        out += [{"not": "a list"}, [12345] * (schema.get("maxItems", 0) + 1)]
    if "object" in kinds:
        out += [["not", "an object"], "x", {"deep": nested(40)}]
    return out


def fuzz_bodies(schema: dict[str, Any]) -> Iterator[bytes]:
    yield from RAW_BAD
    # the wrapper key, or each of the keys a body may come under (ec2tokens)
    for key in schema.get("required") or list(schema["properties"]):
        for value in (None, [], "x", 5):
            yield json.dumps({key: value}).encode()
        for prop, prop_schema in schema["properties"][key].get("properties", {}).items():
            for value in wrong_values(prop_schema):
                yield json.dumps({key: {prop: value}}).encode()


def test_fuzz_every_route_that_takes_a_body(api: Api) -> None:
    """POST, PATCH, PUT with malformed bodies, at made-up ids and at real ones: 4xx, never 5xx."""
    user = admin_id(api)
    real = {
        "domain_id": api.ok("POST", "/domains", {"domain": {"name": "fz"}})["domain"]["id"],
        "project_id": project_id(api, "demo"), "user_id": user, "actor_id": user,
        "group_id": api.ok("POST", "/groups", {"group": {"name": "fz"}})["group"]["id"],
        "role_id": role_id(api, "reader"), "region_id": "RegionOne", "targets": "projects",
        "target_id": project_id(api, "demo"), "actors": "users",
        "service_id": api.ok("POST", "/services", {"service": {"type": "fz"}})["service"]["id"],
    }
    real["endpoint_id"] = api.ok("POST", "/endpoints", {"endpoint": {
        "service_id": real["service_id"], "interface": "public",
        "url": "http://fz"}})["endpoint"]["id"]
    real["credential_id"] = api.ok("POST", f"/users/{user}/application_credentials", {
        "application_credential": {"name": "fz"}})["application_credential"]["id"]
    made_up = {"targets": "projects", "actors": "users"}
    problems: list[str] = []
    routes = [ep for ep in build_api(api.identity).endpoints
              if ep.method in ("POST", "PATCH", "PUT")]
    assert len(routes) >= 20
    for ep in routes:
        # made-up ids with bodies that are not even JSON objects; real ids with every
        # body, where one is read (a PUT of a grant or a membership ignores its body)
        runs = [(made_up, RAW_BAD)]
        if ep.schema is not None:
            runs.append((real, tuple(fuzz_bodies(ep.schema))))
        for fill, bodies in runs:
            path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m, f=fill: f.get(m.group(1), NOWHERE),
                          ep.path)
            for raw in bodies:
                before = api.revision()
                resp = api.call(ep.method, path.removeprefix("/v3"), raw=raw)
                where = f"{ep.method} {path} {raw[:80]!r}: {resp.status_code}"
                if api.revision() != before:
                    problems.append(f"{where}: wrote to the database")
                if not 400 <= resp.status_code < 500:
                    problems.append(f"{where} {resp.text[:150]}")
                    continue
                try:
                    error_message(resp, resp.status_code)
                except (AssertionError, ValueError) as exc:
                    problems.append(f"{where}: bad error body {exc}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:60])


def test_grants_and_memberships_ignore_a_body(api: Api) -> None:
    """Keystone's PUTs take no body; one sent along changes nothing about the answer."""
    user, demo, reader = admin_id(api), project_id(api, "demo"), role_id(api, "reader")
    for raw in (b"{", b"[]", b'{"role": "admin"}'):
        resp = api.call("PUT", f"/projects/{demo}/users/{user}/roles/{reader}", raw=raw)
        assert resp.status_code == 204, resp.text
    granted = api.identity.assignments.list_assignments(
        AssignmentFilter(user_id=user, project_id=demo))
    assert [(g.role_id, g.actor_type) for g in granted] == [(reader, models.ACTOR_USER)]
    assert Grant(reader, models.ACTOR_USER, user, models.TARGET_PROJECT, demo) in granted
