"""The sudo rules API: every endpoint for every kind of caller, and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from labs.identity import models
from labs.identity.assignments import Grant
from tests.accounts.conftest import AccountsCloud
from tests.conftest import Cloud

RULE = {"name": "web", "users": ["%project-a"], "commands": ["/usr/bin/systemctl restart x"]}


class Callers:
    def __init__(self, cloud: Cloud) -> None:
        self.a, self.b = cloud.project("a"), cloud.project("b")
        for name, roles in {"a-admin": {"a": "projectadmin"}, "a-member": {"a": "member"},
                            "a-reader": {"a": "reader"}, "b-admin": {"b": "projectadmin"},
                            "b-member": {"b": "member"}, "nobody": {}}.items():
            cloud.user(name, "pw", roles)
        self.tokens: dict[str, str | None] = {
            "cloud admin": cloud.admin_token(), "no token": None,
            "unscoped": cloud.token("nobody", "pw")}
        for name in ("a-admin", "a-member", "a-reader", "b-admin", "b-member"):
            self.tokens[name] = cloud.token(name, "pw", name[0])
        self.tokens["cloud reader"] = system_reader_token(cloud)


def system_reader_token(cloud: Cloud) -> str:
    user = cloud.user("auditor", "pw")
    reader = cloud.identity.assignments.list_roles("reader")[0]
    cloud.identity.assignments.create_grant(Grant(reader.id, models.ACTOR_USER, user,
                                                  models.TARGET_SYSTEM, models.SYSTEM_ID))
    resp = cloud.client.post("/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {
            "user": {"name": "auditor", "domain": {"id": "default"}, "password": "pw"}}},
        "scope": {"system": {"all": True}}}})
    assert resp.status_code == 201, resp.text
    token: str = resp.headers["X-Subject-Token"]
    return token


@pytest.fixture
def api(acloud: AccountsCloud) -> tuple[TestClient, Callers, Cloud]:
    return acloud.client, Callers(acloud), acloud


def call(client: TestClient, method: str, path: str, token: str | None,
         body: Any = None) -> Any:
    headers = {"X-Auth-Token": token} if token else {}
    return client.request(method, f"/accounts/v1{path}", headers=headers, json=body)


READERS = {"cloud admin", "cloud reader", "a-admin", "a-member", "a-reader"}
WRITERS = {"cloud admin", "a-admin"}
UNSEEN = {"b-admin", "b-member", "unscoped"}


def expected(caller: str, allowed: set[str], ok: int) -> int:
    if caller == "no token":
        return 401
    if caller in UNSEEN:
        return 404
    return ok if caller in allowed else 403


def test_protection(api: tuple[TestClient, Callers, Cloud]) -> None:
    client, callers, _cloud = api
    base = f"/projects/{callers.a}/sudo-rules"
    for caller, token in callers.tokens.items():
        listed = call(client, "GET", base, token)
        assert listed.status_code == expected(caller, READERS, 200), (caller, listed.text)
        shown = call(client, "GET", f"{base}/default-sudo", token)
        assert shown.status_code == expected(caller, READERS, 200), (caller, shown.text)
        made = call(client, "POST", base, token, {"sudo_rule": RULE})
        assert made.status_code == expected(caller, WRITERS, 201), (caller, made.text)
        changed = call(client, "PATCH", f"{base}/web", token,
                       {"sudo_rule": {"options": ["!authenticate"]}})
        assert changed.status_code == expected(caller, WRITERS, 200), (caller, changed.text)
        gone = call(client, "DELETE", f"{base}/web", token)
        assert gone.status_code == expected(caller, WRITERS, 204), (caller, gone.text)
        for resp in (listed, shown, made, changed, gone):
            if resp.status_code >= 400:
                assert resp.json()["error"]["code"] == resp.status_code
            if resp.status_code == 404:
                assert "default-sudo" not in resp.text
        if caller in UNSEEN:
            assert "%project-a" not in listed.text + shown.text


def test_a_project_that_does_not_exist_is_as_one_not_seen(
        api: tuple[TestClient, Callers, Cloud]) -> None:
    client, callers, _cloud = api
    admin = callers.tokens["cloud admin"]
    missing = call(client, "GET", "/projects/0123456789abcdef/sudo-rules", admin)
    unseen = call(client, "GET", f"/projects/{callers.a}/sudo-rules", callers.tokens["b-admin"])
    assert missing.status_code == unseen.status_code == 404
    assert missing.json()["error"]["message"].startswith("Could not find project")
    assert unseen.json()["error"]["message"].startswith("Could not find project")


def test_the_rules_of_a_project(api: tuple[TestClient, Callers, Cloud]) -> None:
    client, callers, cloud = api
    base = f"/projects/{callers.a}/sudo-rules"
    token = callers.tokens["a-admin"]
    listed = call(client, "GET", base, token).json()["sudo_rules"]
    assert [(r["name"], r["users"], r["run_as_users"], r["options"]) for r in listed] == [
        ("default-sudo", ["%project-a"], ["ALL"], ["!authenticate"]),
        ("default-sudo-as", ["%project-a"], ["%project-a"], ["!authenticate"])]
    made = call(client, "POST", base, token, {"sudo_rule": RULE})
    assert made.json()["sudo_rule"]["hosts"] == ["ALL"]
    assert call(client, "POST", base, token, {"sudo_rule": RULE}).status_code == 409
    renamed = call(client, "PATCH", f"{base}/web", token, {"sudo_rule": {"name": "web2"}})
    assert renamed.json()["sudo_rule"]["commands"] == RULE["commands"]
    assert call(client, "GET", f"{base}/web", token).status_code == 404
    assert call(client, "GET", f"{base}/web2", token).json()["sudo_rule"]["name"] == "web2"
    # b's rules are b's own
    b_rules = call(client, "GET", f"/projects/{callers.b}/sudo-rules",
                   callers.tokens["b-admin"]).json()["sudo_rules"]
    assert [r["users"] for r in b_rules] == [["%project-b"], ["%project-b"]]
    cloud.identity.resources.delete_project(callers.a)
    assert call(client, "GET", base, callers.tokens["cloud admin"]).status_code == 404


BAD_FIELDS: list[tuple[str, Any]] = [
    ("commands", ["rm -rf /"]), ("commands", ["/bin/ls; id"]), ("commands", ["/bin/echo `id`"]),
    ("commands", ["/bin/echo $(id)"]), ("commands", ["/bin/ls\nALL ALL=(ALL) ALL"]),
    ("commands", ["/bin/ls\x00"]), ("commands", ["/bin/" + "a" * 2000]),
    ("commands", ["/bin/ls"] * 65), ("commands", []), ("options", ["requiretty"]),
    ("options", ["env_keep+=A B"]), ("users", ["%project-b"]), ("users", ["*)(uid=*"]),
    ("name", "*)(cn=*"), ("name", "default-sudo)(|(cn=*"), ("name", "x,ou=sudoers"),
    ("hosts", ["*"]), ("order", -1), ("order", "1"), ("extra", 1), ("users", "ALL"),
]
BAD_SHAPES: list[Any] = [{"sudo_rule": {"name": "x"}}, {"sudo_rule": []}, {"rule": RULE}, [],
                         "text", {"sudo_rule": {}}]


def refused(client: TestClient, method: str, path: str, token: str | None, body: Any) -> None:
    resp = call(client, method, path, token, body)
    assert resp.status_code == 400, (method, body, resp.text)
    assert resp.json()["error"]["code"] == 400


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
def test_bad_fields_are_400(api: tuple[TestClient, Callers, Cloud], field: str,
                            value: Any) -> None:
    client, callers, _cloud = api
    base = f"/projects/{callers.a}/sudo-rules"
    token = callers.tokens["a-admin"]
    refused(client, "POST", base, token, {"sudo_rule": {**RULE, field: value}})
    refused(client, "PATCH", f"{base}/default-sudo", token, {"sudo_rule": {field: value}})
    assert [r["name"] for r in call(client, "GET", base, token).json()["sudo_rules"]] == [
        "default-sudo", "default-sudo-as"]


def test_bad_shapes_are_400(api: tuple[TestClient, Callers, Cloud]) -> None:
    client, callers, _cloud = api
    base = f"/projects/{callers.a}/sudo-rules"
    for body in BAD_SHAPES:
        refused(client, "POST", base, callers.tokens["a-admin"], body)
        if body != {"sudo_rule": {"name": "x"}}:
            refused(client, "PATCH", f"{base}/default-sudo", callers.tokens["a-admin"], body)


@pytest.mark.parametrize("name", ["*)(cn=*", "default-sudo)(|(cn=*", "a%00b", "-x", "a" * 65])
def test_injection_in_the_path(api: tuple[TestClient, Callers, Cloud], name: str) -> None:
    client, callers, _cloud = api
    token = callers.tokens["cloud admin"]
    for method in ("GET", "PATCH", "DELETE"):
        resp = call(client, method, f"/projects/{callers.a}/sudo-rules/{name}", token,
                    {"sudo_rule": {"order": 1}} if method == "PATCH" else None)
        assert resp.status_code == 400, (method, resp.text)
        assert "rule name" in resp.json()["error"]["message"]
    listed = call(client, "GET", f"/projects/{name}/sudo-rules", token)
    assert listed.status_code == 404


def test_an_oversize_body_is_413(api: tuple[TestClient, Callers, Cloud]) -> None:
    client, callers, _cloud = api
    body = {"sudo_rule": {**RULE, "commands": ["/bin/" + "a" * 200_000]}}
    resp = call(client, "POST", f"/projects/{callers.a}/sudo-rules",
                callers.tokens["a-admin"], body)
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == 413


def test_a_project_s_rules_weigh_at_most_what_a_vm_takes(
        api: tuple[TestClient, Callers, Cloud]) -> None:
    """A project admin cannot store rules without end: together, as a sudoers file, they
    fit the VM's access document (64 KiB); past that, 409."""
    client, callers, cloud = api
    token = callers.tokens["a-admin"]
    command = "/usr/bin/" + "x" * 1000
    made = 0
    for n in range(200):
        resp = call(client, "POST", f"/projects/{callers.a}/sudo-rules", token, {
            "sudo_rule": {"name": f"big-{n}", "users": ["%project-a"],
                          "commands": [f"{command}{i}" for i in range(16)]}})
        if resp.status_code == 409:
            assert "at most 65536 bytes" in resp.json()["error"]["message"]
            break
        assert resp.status_code == 201, resp.text
        made += 1
    assert 0 < made < 200
    assert len(cloud.identity.sudo.sudoers(callers.a).encode()) <= 64 * 1024
    grow = call(client, "PATCH", f"/projects/{callers.a}/sudo-rules/big-0", token, {
        "sudo_rule": {"commands": [f"{command}{i}" for i in range(40)]}})
    assert grow.status_code == 409, grow.text
    shrink = call(client, "PATCH", f"/projects/{callers.a}/sudo-rules/big-0", token, {
        "sudo_rule": {"commands": ["/usr/bin/true"]}})
    assert shrink.status_code == 200, shrink.text
