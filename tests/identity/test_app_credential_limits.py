"""What an application credential's token may not do: outlive it, or manage credentials."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Cloud

V3 = "/identity/v3"


def new_credential(cloud: Cloud, user_id: str, token: str, **fields: Any) -> dict[str, Any]:
    resp = cloud.client.post(f"{V3}/users/{user_id}/application_credentials",
                             headers=cloud.headers(token),
                             json={"application_credential": fields})
    assert resp.status_code == 201, resp.text
    cred: dict[str, Any] = resp.json()["application_credential"]
    return cred


def credential_token(cloud: Cloud, cred: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    resp = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": cred["id"], "secret": cred["secret"]}}}})
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"], resp.json()["token"]


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_a_token_expires_with_its_application_credential(cloud: Cloud) -> None:
    user_id = cloud.user("ivy", "pw", {"demo": "member"})
    password_token = cloud.token("ivy", "pw", "demo")
    soon = datetime.now(UTC) + timedelta(seconds=2)
    cred = new_credential(cloud, user_id, password_token, name="short",
                          expires_at=soon.isoformat())
    token, body = credential_token(cloud, cred)
    # the token lifetime is an hour; the credential's two seconds win
    assert parse(body["expires_at"]) <= parse(cred["expires_at"])
    check = {"X-Auth-Token": password_token, "X-Subject-Token": token}
    assert cloud.client.get(f"{V3}/auth/tokens", headers=check).status_code == 200
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.2)
    assert cloud.client.get(f"{V3}/auth/tokens", headers=check).status_code == 404
    assert cloud.client.get(f"{V3}/auth/projects",
                            headers=cloud.headers(token)).status_code == 401
    # nor can it be traded for a token of its own
    resp = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": token}}}})
    assert resp.status_code == 401


def test_a_credential_without_expiry_gives_the_usual_lifetime(cloud: Cloud) -> None:
    user_id = cloud.user("jay", "pw", {"demo": "member"})
    cred = new_credential(cloud, user_id, cloud.token("jay", "pw", "demo"), name="ci")
    _token, body = credential_token(cloud, cred)
    left = parse(body["expires_at"]) - datetime.now(UTC)
    assert timedelta(minutes=59) < left <= timedelta(hours=1)


def test_a_restricted_credential_cannot_manage_credentials(cloud: Cloud) -> None:
    user_id = cloud.user("kim", "pw", {"demo": "member"})
    password_token = cloud.token("kim", "pw", "demo")
    keep = new_credential(cloud, user_id, password_token, name="keep")
    restricted = new_credential(cloud, user_id, password_token, name="restricted")
    token, _body = credential_token(cloud, restricted)
    creds = f"{V3}/users/{user_id}/application_credentials"
    h = cloud.headers(token)
    for victim in (keep, restricted):
        resp = cloud.client.delete(f"{creds}/{victim['id']}", headers=h)
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"]["code"] == 403
    resp = cloud.client.post(creds, headers=h, json={"application_credential": {"name": "x"}})
    assert resp.status_code == 403
    names = [c["name"] for c in cloud.client.get(
        creds, headers=cloud.headers(password_token)).json()["application_credentials"]]
    assert names == ["keep", "restricted"]
    # reading them stays allowed, as in Keystone
    assert cloud.client.get(creds, headers=h).status_code == 200


def test_an_unrestricted_credential_may_delete_but_not_create(cloud: Cloud) -> None:
    user_id = cloud.user("lea", "pw", {"demo": "member"})
    password_token = cloud.token("lea", "pw", "demo")
    other = new_credential(cloud, user_id, password_token, name="other")
    free = new_credential(cloud, user_id, password_token, name="free", unrestricted=True)
    token, _body = credential_token(cloud, free)
    creds = f"{V3}/users/{user_id}/application_credentials"
    h = cloud.headers(token)
    # a credential that made another could outlive its own expiry through it
    resp = cloud.client.post(creds, headers=h, json={"application_credential": {"name": "x"}})
    assert resp.status_code == 403
    assert cloud.client.delete(f"{creds}/{other['id']}", headers=h).status_code == 204


def rescope(cloud: Cloud, token: str, project: str | None = None) -> str:
    auth: dict[str, Any] = {"identity": {"methods": ["token"], "token": {"id": token}}}
    auth["scope"] = ({"project": {"name": project, "domain": {"id": "default"}}}
                     if project else "unscoped")
    resp = cloud.client.post(f"{V3}/auth/tokens", json={"auth": auth})
    assert resp.status_code == 201, resp.text
    return str(resp.headers["X-Subject-Token"])


def test_revoking_a_token_revokes_every_token_rescoped_from_it(cloud: Cloud) -> None:
    cloud.user("max", "pw", {"demo": "member"})
    admin = cloud.admin_token()
    first = cloud.token("max", "pw")
    chain = [first]
    for project in ("demo", None, "demo", None):
        chain.append(rescope(cloud, chain[-1], project))

    def alive() -> list[bool]:
        return [cloud.client.get(f"{V3}/auth/tokens", headers={
            "X-Auth-Token": admin, "X-Subject-Token": t}).status_code == 200 for t in chain]

    assert alive() == [True] * 5
    # revoking one in the middle: it and every token made from it, at any depth
    assert cloud.client.delete(f"{V3}/auth/tokens", headers={
        "X-Auth-Token": admin, "X-Subject-Token": chain[2]}).status_code == 204
    assert alive() == [True, True, False, False, False]
    assert cloud.client.delete(f"{V3}/auth/tokens", headers={
        "X-Auth-Token": admin, "X-Subject-Token": first}).status_code == 204
    assert alive() == [False] * 5


def test_a_lineage_of_rescoped_tokens_is_bounded(cloud: Cloud) -> None:
    cloud.user("ned", "pw", {"demo": "member"})
    token = cloud.token("ned", "pw")
    for _ in range(15):
        token = rescope(cloud, token)
    resp = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": token}}, "scope": "unscoped"}})
    assert resp.status_code == 401
    assert cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "name": "ned", "domain": {"id": "default"}, "password": "pw"}}}}}).status_code == 201
