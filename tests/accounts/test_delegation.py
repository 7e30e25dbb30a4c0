"""Delegated tokens (application credentials, trusts) change no ssh keys: a key opens
every VM of every project of its account, beyond any delegation's limits."""

from __future__ import annotations

from tests.accounts.conftest import AccountsCloud
from tests.accounts.keys_helpers import ed25519_public

V3 = "/identity/v3"


def _add_key(acloud: AccountsCloud, user_id: str, token: str) -> int:
    return acloud.client.post(acloud.url(user_id, "/keys"), headers=acloud.headers(token),
                              json={"key": {"public_key": ed25519_public()}}).status_code


def test_an_application_credential_changes_no_keys(acloud: AccountsCloud) -> None:
    acloud.project("alpha")
    uid = acloud.user("alice", "pw", {"alpha": "member"})
    token = acloud.token("alice", "pw", "alpha")
    for unrestricted in (False, True):
        resp = acloud.client.post(f"{V3}/users/{uid}/application_credentials",
                                  headers=acloud.headers(token), json={
                                      "application_credential": {
                                          "name": f"ci-{unrestricted}",
                                          "unrestricted": unrestricted}})
        assert resp.status_code == 201, resp.text
        cred = resp.json()["application_credential"]
        resp = acloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
            "methods": ["application_credential"],
            "application_credential": {"id": cred["id"], "secret": cred["secret"]}}}})
        assert resp.status_code == 201, resp.text
        ac_token = resp.headers["X-Subject-Token"]
        assert _add_key(acloud, uid, ac_token) == 403
        listed = acloud.client.get(acloud.url(uid, "/keys"), headers=acloud.headers(ac_token))
        assert listed.status_code == 200 and listed.json()["keys"] == []
    assert _add_key(acloud, uid, token) == 201
    fingerprint = acloud.client.get(acloud.url(uid, "/keys"), headers=acloud.headers(
        token)).json()["keys"][0]["fingerprint"]
    gone = acloud.client.delete(acloud.url(uid, f"/keys/{fingerprint}"),
                                headers=acloud.headers(ac_token))
    assert gone.status_code == 403, gone.text


def test_a_trustee_acting_as_the_trustor_adds_no_keys(acloud: AccountsCloud) -> None:
    alpha = acloud.project("alpha")
    alice = acloud.user("alice", "pw", {"alpha": "member"})
    bob = acloud.user("bob", "pw")
    resp = acloud.client.post(f"{V3}/OS-TRUST/trusts",
                              headers=acloud.headers(acloud.token("alice", "pw", "alpha")),
                              json={"trust": {"trustor_user_id": alice,
                                              "trustee_user_id": bob,
                                              "impersonation": True, "project_id": alpha,
                                              "roles": [{"name": "member"}]}})
    assert resp.status_code == 201, resp.text
    trust_id = resp.json()["trust"]["id"]
    resp = acloud.client.post(f"{V3}/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": acloud.token("bob", "pw")}},
        "scope": {"OS-TRUST:trust": {"id": trust_id}}}})
    assert resp.status_code == 201, resp.text
    held = resp.headers["X-Subject-Token"]
    assert resp.json()["token"]["user"]["id"] == alice
    assert _add_key(acloud, alice, held) == 403
    assert _add_key(acloud, alice, acloud.token("alice", "pw")) == 201
