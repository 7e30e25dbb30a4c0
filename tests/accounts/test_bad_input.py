"""Bad input to the accounts API (and shell names through identity): 4xx with an
OpenStack error body, never 5xx, and nothing half-made."""

from __future__ import annotations

from typing import Any

import pytest

from tests.accounts.conftest import AccountsCloud
from tests.accounts.keys_helpers import ed25519_public, rsa_private_pem, rsa_public

INJECTIONS = ("*)(uid=*))(|(uid=*", "admin)(objectClass=*", "a,ou=people,dc=x",
              "a\\2a", "a\x00b", "x; rm -rf /", "../../etc/passwd", "a\nb")


def _error(resp: Any, status: int) -> str:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == status and error["title"]
    return str(error["message"])


@pytest.mark.parametrize("body", [
    None, [], {}, {"account": None}, {"account": {}}, {"account": {"name": "x"}},
    {"account": {"name": "", "password": "pw"}}, {"account": {"name": "x", "password": ""}},
    {"account": {"name": "x", "password": "pw", "shell_name": ""}},
    {"account": {"name": "x", "password": "pw", "shell_name": "a" * 33}},
    {"account": {"name": "x", "password": "pw", "uid_number": 0}},
    {"account": {"name": "x" * 256, "password": "pw"}},
    {"account": {"name": 7, "password": "pw"}},
])
def test_malformed_sign_ups(acloud: AccountsCloud, body: Any) -> None:
    _error(acloud.client.post("/accounts/v1/signup", json=body), 400)


@pytest.mark.parametrize("name", INJECTIONS)
def test_injection_attempts_in_names(acloud: AccountsCloud, name: str) -> None:
    """As a shell name: refused. As a login name: accepted as text, its shell name
    folded to the pattern."""
    _error(acloud.client.post("/accounts/v1/signup", json={"account": {
        "name": "fine", "password": "pw", "shell_name": name}}), 400)
    resp = acloud.client.post("/accounts/v1/signup", json={"account": {
        "name": name, "password": "pw"}})
    if resp.status_code == 201:
        shell = resp.json()["account"]["shell_name"]
        assert shell.replace("-", "").replace("_", "").isalnum() and shell[0].isalpha()
    else:
        _error(resp, 400)
    admin = acloud.headers(acloud.admin_token())
    _error(acloud.client.post("/identity/v3/users", headers=admin, json={"user": {
        "name": "other", "shell_name": name}}), 400)


def test_shell_names_through_identity(acloud: AccountsCloud) -> None:
    admin = acloud.headers(acloud.admin_token())
    made = acloud.client.post("/identity/v3/users", headers=admin, json={"user": {
        "name": "Fred Bloggs", "shell_name": "fred"}})
    assert made.status_code == 201, made.text
    user = made.json()["user"]
    assert user["shell_name"] == "fred" and user["uid_number"] == user["gid_number"]
    assert "shell_name" not in acloud.identity.users.get_user(user["id"]).extra
    _error(acloud.client.post("/identity/v3/users", headers=admin, json={"user": {
        "name": "Fred Two", "shell_name": "fred"}}), 409)
    _error(acloud.client.post("/identity/v3/users", headers=admin, json={"user": {
        "name": "Fred Three", "shell_name": "Fred"}}), 400)
    _error(acloud.client.post("/identity/v3/users", headers=admin, json={"user": {
        "name": "Fred Four", "shell_name": 5}}), 400)
    derived = acloud.client.post("/identity/v3/users", headers=admin,
                                 json={"user": {"name": "Fred"}})
    assert derived.json()["user"]["shell_name"] == "fred1"
    shown = acloud.client.get(f"/identity/v3/users/{user['id']}", headers=admin)
    assert shown.json()["user"]["shell_name"] == "fred"


@pytest.mark.parametrize("body", [
    None, {}, {"key": {}}, {"key": {"public_key": ""}}, {"key": {"public_key": 5}},
    {"key": {"public_key": "ssh-ed25519 AAAA", "extra": 1}},
    {"key": {"public_key": "x" * 9000}}, {"keys": []},
    {"key": {"public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"}},
    {"key": {"public_key": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQ=="}},
])
def test_malformed_keys(acloud: AccountsCloud, body: Any) -> None:
    acloud.project("alpha")
    uid = acloud.user("alice", "pw", {"alpha": "member"})
    headers = acloud.headers(acloud.token("alice", "pw", "alpha"))
    _error(acloud.client.post(acloud.url(uid, "/keys"), headers=headers, json=body), 400)
    assert acloud.client.get(acloud.url(uid, "/keys"), headers=headers).json()["keys"] == []


def test_weak_and_private_keys(acloud: AccountsCloud) -> None:
    acloud.project("alpha")
    uid = acloud.user("alice", "pw", {"alpha": "member"})
    headers = acloud.headers(acloud.token("alice", "pw", "alpha"))
    assert "1024" in _error(acloud.client.post(acloud.url(uid, "/keys"), headers=headers,
                                               json={"key": {"public_key": rsa_public(1024)}}),
                            400)
    assert "private key" in _error(acloud.client.post(
        acloud.url(uid, "/keys"), headers=headers,
        json={"key": {"public_key": rsa_private_pem()}}), 400)


@pytest.mark.parametrize("body", [
    None, {}, {"account": {}}, {"account": {"login_shell": ""}},
    {"account": {"login_shell": "/bin/bash; id"}}, {"account": {"enabled": "no"}},
    {"account": {"uid_number": 0}}, {"account": {"home_directory": "/"}},
    {"account": {"shell_name": "root"}},
])
def test_malformed_updates(acloud: AccountsCloud, body: Any) -> None:
    acloud.project("alpha")
    uid = acloud.user("alice", "pw", {"alpha": "member"})
    headers = acloud.headers(acloud.token("alice", "pw", "alpha"))
    _error(acloud.client.patch(acloud.url(uid), headers=headers, json=body), 400)
    account = acloud.client.get(acloud.url(uid), headers=headers).json()["account"]
    assert account["shell_name"] == "alice" and account["login_shell"] == "/bin/bash"


@pytest.mark.parametrize("path", [
    "/accounts/v1/accounts/nobody", "/accounts/v1/accounts/nobody/keys",
    "/accounts/v1/accounts/%00", "/accounts/v1/accounts/" + "x" * 5000,
])
def test_unknown_accounts_are_404_for_admins(acloud: AccountsCloud, path: str) -> None:
    admin = acloud.headers(acloud.admin_token())
    _error(acloud.client.get(path, headers=admin), 404)
    _error(acloud.client.post(path.removesuffix("/keys") + "/keys", headers=admin,
                              json={"key": {"public_key": ed25519_public()}}), 404)


@pytest.mark.parametrize("fingerprint", ["nope", "SHA256:nope", "%2F..%2F", "a" * 2000])
def test_unknown_fingerprints(acloud: AccountsCloud, fingerprint: str) -> None:
    acloud.project("alpha")
    uid = acloud.user("alice", "pw", {"alpha": "member"})
    headers = acloud.headers(acloud.token("alice", "pw", "alpha"))
    _error(acloud.client.delete(acloud.url(uid, f"/keys/{fingerprint}"), headers=headers), 404)
