"""The accounts API over HTTP: accounts, ssh keys, sign-up."""

from __future__ import annotations

from tests.accounts.conftest import AccountsCloud


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
