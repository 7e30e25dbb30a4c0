"""The accounts API over HTTP: accounts, ssh keys, sign-up."""

from __future__ import annotations

from labs.identity.resources import ProjectFilter
from tests.accounts.conftest import AccountsCloud
from tests.accounts.keys_helpers import ed25519_pair, ed25519_public


def test_a_user_sees_their_own_account(acloud: AccountsCloud) -> None:
    acloud.project("alpha")
    uid = acloud.user("Alice Smith", "pw", {"alpha": "member"})
    token = acloud.token("Alice Smith", "pw", "alpha")
    resp = acloud.client.get(acloud.url(uid), headers=acloud.headers(token))
    assert resp.status_code == 200, resp.text
    account = resp.json()["account"]
    assert account["id"] == uid
    assert account["shell_name"] == "alice-smith"
    assert account["home_directory"] == "/home/alice-smith"
    assert account["login_shell"] == "/bin/bash"
    assert account["uid_number"] == account["gid_number"] >= 10000


def _member(acloud: AccountsCloud, name: str, project: str = "alpha") -> tuple[str, str]:
    """(user id, token) of a member of ``project``."""
    if not acloud.identity.resources.list_projects(ProjectFilter(name=project)):
        acloud.project(project)
    uid = acloud.user(name, "pw", {project: "member"})
    return uid, acloud.token(name, "pw", project)


def test_keys_are_added_listed_and_removed(acloud: AccountsCloud) -> None:
    uid, token = _member(acloud, "alice")
    headers = acloud.headers(token)
    line = ed25519_public()
    resp = acloud.client.post(acloud.url(uid, "/keys"), headers=headers,
                              json={"key": {"public_key": line + "\n"}})
    assert resp.status_code == 201, resp.text
    key = resp.json()["key"]
    assert key["public_key"] == line and key["type"] == "ssh-ed25519"
    assert key["comment"] == "someone@laptop" and key["bits"] == 256
    again = acloud.client.post(acloud.url(uid, "/keys"), headers=headers,
                               json={"key": {"public_key": line}})
    assert again.status_code == 409, again.text
    listed = acloud.client.get(acloud.url(uid, "/keys"), headers=headers).json()["keys"]
    assert [k["fingerprint"] for k in listed] == [key["fingerprint"]]
    with acloud.identity.store.read() as tx:
        assert acloud.identity.backend.list_ssh_keys(tx, uid) == [line]
    assert acloud.accounts is not None
    assert acloud.accounts.authorized_keys("alice") == [line]
    vm = acloud.client.get("/accounts/v1/authorized_keys/alice",
                           headers=acloud.headers(acloud.admin_token()))
    assert vm.json() == {"keys": [line]}
    assert acloud.client.get("/accounts/v1/authorized_keys/nobody)(uid=*", headers=acloud.headers(
        acloud.admin_token())).json() == {"keys": []}
    gone = acloud.client.delete(acloud.url(uid, f"/keys/{key['fingerprint']}"), headers=headers)
    assert gone.status_code == 204, gone.text
    assert acloud.client.get(acloud.url(uid, "/keys"), headers=headers).json()["keys"] == []
    missing = acloud.client.delete(acloud.url(uid, f"/keys/{key['fingerprint']}"),
                                   headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == 404


def test_a_private_key_is_refused_with_a_warning(acloud: AccountsCloud) -> None:
    uid, token = _member(acloud, "alice")
    _public, private = ed25519_pair()
    resp = acloud.client.post(acloud.url(uid, "/keys"), headers=acloud.headers(token),
                              json={"key": {"public_key": private}})
    assert resp.status_code == 400
    assert "never send a private key" in resp.json()["error"]["message"]


def test_the_login_shell_changes_but_the_shell_name_does_not(acloud: AccountsCloud) -> None:
    uid, token = _member(acloud, "alice")
    headers = acloud.headers(token)
    resp = acloud.client.patch(acloud.url(uid), headers=headers,
                               json={"account": {"login_shell": "/bin/zsh"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["account"]["login_shell"] == "/bin/zsh"
    bad = acloud.client.patch(acloud.url(uid), headers=headers,
                              json={"account": {"login_shell": "/tmp/evil"}})
    assert bad.status_code == 400
    fixed = acloud.client.patch(acloud.url(uid), headers=headers,
                                json={"account": {"shell_name": "bob"}})
    assert fixed.status_code == 400
    assert fixed.json()["error"]["message"] == "shell_name cannot be changed"
    via_identity = acloud.client.patch(f"/identity/v3/users/{uid}",
                                       headers=acloud.headers(acloud.admin_token()),
                                       json={"user": {"shell_name": "bob"}})
    assert via_identity.status_code == 400
    assert via_identity.json()["error"]["message"] == "shell_name cannot be changed"
    assert acloud.identity.users.get_user(uid).posix.shell_name == "alice"  # type: ignore[union-attr]


def test_an_admin_disables_an_account_its_tokens_and_keys_stop(acloud: AccountsCloud) -> None:
    uid, token = _member(acloud, "alice")
    acloud.client.post(acloud.url(uid, "/keys"), headers=acloud.headers(token),
                       json={"key": {"public_key": ed25519_public()}})
    own = acloud.client.patch(acloud.url(uid), headers=acloud.headers(token),
                              json={"account": {"enabled": False}})
    assert own.status_code == 403
    admin = acloud.headers(acloud.admin_token())
    resp = acloud.client.patch(acloud.url(uid), headers=admin,
                               json={"account": {"enabled": False}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["account"]["enabled"] is False
    after = acloud.client.get(acloud.url(uid), headers=acloud.headers(token))
    assert after.status_code == 401
    check = acloud.client.get("/identity/v3/auth/tokens",
                              headers={**admin, "X-Subject-Token": token})
    assert check.status_code == 404
    assert acloud.accounts is not None
    assert acloud.accounts.authorized_keys("alice") == []
    vm = acloud.client.get("/accounts/v1/authorized_keys/alice", headers=admin)
    assert vm.status_code == 200 and vm.json() == {"keys": []}
    login = acloud.client.post("/identity/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "name": "alice", "domain": {"id": "default"}, "password": "pw"}}}}})
    assert login.status_code == 401


def test_sign_up_when_the_operator_allows_it(acloud: AccountsCloud,
                                            closed_cloud: AccountsCloud) -> None:
    body = {"account": {"name": "Zoë Q", "password": "long-secret", "email": "z@example.org"}}
    refused = closed_cloud.client.post("/accounts/v1/signup", json=body)
    assert refused.status_code == 403
    assert "not enabled" in refused.json()["error"]["message"]
    resp = acloud.client.post("/accounts/v1/signup", json=body)
    assert resp.status_code == 201, resp.text
    account = resp.json()["account"]
    assert account["shell_name"] == "zoe-q" and account["domain_id"] == "default"
    token = acloud.token("Zoë Q", "long-secret")
    mine = acloud.client.get(acloud.url(account["id"]), headers=acloud.headers(token))
    assert mine.json()["account"]["uid_number"] == account["uid_number"]
    user = acloud.identity.users.get_user(account["id"])
    assert user.default_project_id is None and user.extra["email"] == "z@example.org"
    taken = acloud.client.post("/accounts/v1/signup", json={"account": {
        "name": "other", "password": "pw", "shell_name": "zoe-q"}})
    assert taken.status_code == 409
    bad = acloud.client.post("/accounts/v1/signup", json={"account": {
        "name": "other", "password": "pw", "shell_name": "9lives"}})
    assert bad.status_code == 400
    again = acloud.client.post("/accounts/v1/signup", json=body)
    assert again.status_code == 409
