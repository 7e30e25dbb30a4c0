"""Credentials, EC2 credentials and EC2 tokens through the API."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from labs.identity import models
from tests.conftest import Cloud
from tests.identity.protection_delegation import signed_request
from tests.identity.test_bad_input import Api, error_message

V3 = "/identity/v3"


@pytest.fixture(name="api")
def api_fixture(cloud: Cloud) -> Api:
    client = TestClient(cloud.client.app, base_url="http://testserver",
                        raise_server_exceptions=False)
    return Api(cloud, client, cloud.admin_token())


def people(api: Api) -> tuple[str, str, str]:
    """Users alice (member of a) and bob (member of b); their ids and a's id."""
    cloud: Cloud = api.cloud
    a = cloud.project("a")
    cloud.project("b")
    return cloud.user("alice", "pw", {"a": "member"}), cloud.user("bob", "pw", {"b": "member"}), a


def as_user(api: Api, name: str, project: str) -> str:
    return api.cloud.token(name, "pw", project)


def test_credential_lifecycle_and_the_blob_is_encrypted_at_rest(api: Api) -> None:
    alice, _bob, a = people(api)
    token = as_user(api, "alice", "a")
    resp = api.call("POST", "/credentials", {"credential": {
        "user_id": alice, "type": "totp", "blob": "GEZDGNBVGY3TQOJQ"}}, token=token)
    assert resp.status_code == 201, resp.text
    cred = resp.json()["credential"]
    assert cred["blob"] == "GEZDGNBVGY3TQOJQ" and cred["type"] == "totp"
    assert cred["project_id"] is None and cred["user_id"] == alice
    assert cred["links"]["self"].endswith(f"/v3/credentials/{cred['id']}")
    with api.identity.store.read() as tx:
        row = tx.get(models.Credential, cred["id"])
        assert row is not None and "GEZDGNBVGY3TQOJQ" not in row.encrypted_blob
        primary = api.identity.credential_keys.load()[0]
        assert row.key_hash == hashlib.sha1(primary).hexdigest()
    # the token keys cannot read it
    assert api.identity.credential_keys.path != api.identity.keys.path

    shown = api.call("GET", f"/credentials/{cred['id']}", token=token).json()["credential"]
    assert shown == cred
    resp = api.call("PATCH", f"/credentials/{cred['id']}", {"credential": {
        "blob": "new", "project_id": a}}, token=token)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["credential"]["blob"], resp.json()["credential"]["project_id"]) == (
        "new", a)
    assert api.call("DELETE", f"/credentials/{cred['id']}", token=token).status_code == 204
    api.refused(404, "GET", f"/credentials/{cred['id']}")


def test_list_filters_and_a_user_sees_only_their_own(api: Api) -> None:
    alice, bob, _a = people(api)
    for owner, kind in ((alice, "totp"), (alice, "cert"), (bob, "totp")):
        api.identity.credentials.create({"user_id": owner, "type": kind, "blob": "x"})

    def listed(query: str, token: str = "admin") -> list[tuple[str, str]]:
        resp = api.call("GET", f"/credentials{query}", token=token)
        assert resp.status_code == 200, resp.text
        return sorted((c["user_id"], c["type"]) for c in resp.json()["credentials"])

    assert listed("") == sorted([(alice, "totp"), (alice, "cert"), (bob, "totp")])
    assert listed("?type=totp") == sorted([(alice, "totp"), (bob, "totp")])
    assert listed(f"?user_id={alice}&type=cert") == [(alice, "cert")]
    token = as_user(api, "alice", "a")
    assert listed("", token) == sorted([(alice, "totp"), (alice, "cert")])
    assert listed(f"?user_id={bob}", token) == []


def test_ec2_credential_id_is_the_hash_of_the_access_key(api: Api) -> None:
    alice, _bob, a = people(api)
    blob = json.dumps({"access": "AKIA1", "secret": "s3cr3t"})
    resp = api.call("POST", "/credentials", {"credential": {
        "user_id": alice, "type": "ec2", "blob": blob, "project_id": a}})
    assert resp.status_code == 201, resp.text
    assert resp.json()["credential"]["id"] == hashlib.sha256(b"AKIA1").hexdigest()
    # the same access key again; the access key changed; the type changed
    api.refused(409, "POST", "/credentials", {"credential": {
        "user_id": alice, "type": "ec2", "blob": blob, "project_id": a}})
    cred_id = resp.json()["credential"]["id"]
    api.refused(400, "PATCH", f"/credentials/{cred_id}", {"credential": {
        "blob": json.dumps({"access": "AKIA2", "secret": "s"})}})
    api.refused(400, "PATCH", f"/credentials/{cred_id}", {"credential": {"type": "totp"}})
    ok = api.call("PATCH", f"/credentials/{cred_id}", {"credential": {
        "blob": json.dumps({"access": "AKIA1", "secret": "rotated"})}})
    assert ok.status_code == 200 and "rotated" in ok.json()["credential"]["blob"]
    # the EC2 API finds it by its access key
    resp = api.call("GET", f"/users/{alice}/credentials/OS-EC2/AKIA1")
    assert resp.json()["credential"]["secret"] == "rotated"


def test_bad_credentials_are_400_or_404_and_write_nothing(api: Api) -> None:
    alice, _bob, a = people(api)
    base = {"user_id": alice, "type": "totp", "blob": "x"}
    for bad in ({}, {"type": "totp", "blob": "x"}, {**base, "blob": 5}, {**base, "blob": ""},
                {**base, "type": ""}, {**base, "type": "x" * 256}, {**base, "user_id": None},
                {**base, "type": "ec2"}, {**base, "type": "ec2", "project_id": a},
                {**base, "type": "ec2", "project_id": a, "blob": '{"secret": "s"}'},
                {**base, "type": "ec2", "project_id": a, "blob": '["access"]'},
                {**base, "type": "ec2", "blob": '{"access": "k", "secret": "s"}'}):
        api.refused(400, "POST", "/credentials", {"credential": bad})
    api.refused(404, "POST", "/credentials", {"credential": {**base, "user_id": "nobody"}})
    api.refused(404, "POST", "/credentials", {"credential": {**base, "project_id": "nowhere"}})
    created = api.ok("POST", "/credentials", {"credential": base})["credential"]
    path = f"/credentials/{created['id']}"
    api.refused(400, "PATCH", path, {"credential": {}})
    api.refused(404, "PATCH", path, {"credential": {"user_id": "nobody"}})
    # another user may neither take it nor give theirs to someone else
    token = as_user(api, "bob", "b")
    api.refused(403, "PATCH", path, {"credential": {"blob": "mine"}}, token=token)
    mine = api.identity.credentials.create({**base, "user_id": api.identity.tokens.validate(
        token).user.id})
    api.refused(403, "PATCH", f"/credentials/{mine.id}", {"credential": {"user_id": alice}},
                token=token)
    assert api.identity.credentials.get(created["id"]).blob == "x"


def ec2_token(api: Api, credentials: dict[str, Any], key: str = "credentials") -> Any:
    return api.call("POST", "/ec2tokens", {key: credentials}, token=None)


def test_ec2_credentials_then_an_ec2_token(api: Api) -> None:
    alice, _bob, a = people(api)
    token = as_user(api, "alice", "a")
    resp = api.call("POST", f"/users/{alice}/credentials/OS-EC2", {"tenant_id": a},
                    token=token)
    assert resp.status_code == 201, resp.text
    cred = resp.json()["credential"]
    assert set(cred) == {"user_id", "tenant_id", "access", "secret", "trust_id", "links"}
    assert (cred["user_id"], cred["tenant_id"], cred["trust_id"]) == (alice, a, None)
    base = f"/users/{alice}/credentials/OS-EC2"
    assert cred["links"]["self"].endswith(f"{base}/{cred['access']}")
    listed = api.call("GET", base, token=token).json()["credentials"]
    assert [c["access"] for c in listed] == [cred["access"]]
    assert api.call("GET", f"{base}/{cred['access']}", token=token).json()["credential"] == cred

    resp = ec2_token(api, signed_request(cred["access"], cred["secret"]))
    assert resp.status_code == 200, resp.text
    issued = resp.json()["token"]
    assert issued["methods"] == ["ec2credential"]
    assert (issued["user"]["id"], issued["project"]["id"]) == (alice, a)
    assert [r["name"] for r in issued["roles"]] == ["member", "reader"]  # member implies reader
    assert api.call("GET", "/auth/catalog", token=resp.headers["X-Subject-Token"]).is_success
    # the older key name works too
    assert ec2_token(api, signed_request(cred["access"], cred["secret"]),
                     "ec2Credentials").status_code == 200

    assert api.call("DELETE", f"{base}/{cred['access']}", token=token).status_code == 204
    resp = ec2_token(api, signed_request(cred["access"], cred["secret"]))
    assert resp.status_code == 401 and "not found" in error_message(resp, 401)


def test_ec2_tokens_refuse_bad_signatures_and_old_requests(api: Api) -> None:
    alice, _bob, a = people(api)
    cred = api.identity.credentials.create_ec2(alice, a, None).ec2_blob()
    good = signed_request(cred["access"], cred["secret"])
    refusals = [
        {**good, "signature": "0" * 64},
        signed_request(cred["access"], "not the secret"),
        {**good, "signature": ""},
        {**good, "access": "unknown"},
        {**good, "params": {**good["params"], "SignatureVersion": "9"}},
        {**good, "headers": {**good["headers"], "Authorization": "AWS4-HMAC-SHA256 x"}},
    ]
    old = (datetime.now(UTC) - timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
    stale = signed_request(cred["access"], cred["secret"])
    stale["headers"]["X-Amz-Date"] = old
    stale["headers"]["Authorization"] = stale["headers"]["Authorization"].replace(
        stale["headers"]["Authorization"].split("/")[1], old[:8])
    from keystoneclient.contrib.ec2.utils import Ec2Signer
    stale["signature"] = Ec2Signer(cred["secret"]).generate(json.loads(json.dumps(stale)))
    refusals.append(stale)
    for credentials in refusals:
        with api.writes_nothing():
            resp = ec2_token(api, credentials)
        assert resp.status_code == 401, (credentials, resp.text)
        error_message(resp, 401)
    for body in ({}, {"credentials": "x"}, {"credentials": {"access": 5}},
                 {"credentials": {"access": "a", "params": {"x": 1}}}):
        resp = api.call("POST", "/ec2tokens", body, token=None)
        assert resp.status_code == 400, (body, resp.text)
        error_message(resp, 400)
    # without a role on the project the signature no longer gives a token
    api.ok("DELETE", f"/projects/{a}/users/{alice}/roles/{role(api, 'member')}")
    resp = ec2_token(api, signed_request(cred["access"], cred["secret"]))
    assert resp.status_code == 401, resp.text


def test_ec2_timestamps_at_the_end_of_time_are_401_not_500(api: Api) -> None:
    from keystoneclient.contrib.ec2.utils import Ec2Signer
    alice, _bob, a = people(api)
    cred = api.identity.credentials.create_ec2(alice, a, None).ec2_blob()
    for stamp in ("99991231T235959Z", "99991231T235959-1400"):
        signed = signed_request(cred["access"], cred["secret"])
        auth = signed["headers"]["Authorization"]
        signed["headers"]["X-Amz-Date"] = stamp
        signed["headers"]["Authorization"] = auth.replace(auth.split("/")[1], stamp[:8])
        signed["signature"] = Ec2Signer(cred["secret"]).generate(json.loads(json.dumps(signed)))
        resp = ec2_token(api, signed)
        assert resp.status_code == 401, (stamp, resp.text)
        error_message(resp, 401)


def role(api: Api, name: str) -> str:
    return api.identity.assignments.list_roles(name)[0].id


def test_ec2_credentials_of_others_and_unknown_projects(api: Api) -> None:
    alice, bob, a = people(api)
    api.refused(404, "POST", f"/users/{alice}/credentials/OS-EC2", {"tenant_id": "nowhere"})
    api.refused(404, "POST", "/users/nobody/credentials/OS-EC2", {"tenant_id": a})
    for bad in ({}, {"tenant_id": 5}, {"tenant_id": ""}):
        api.refused(400, "POST", f"/users/{alice}/credentials/OS-EC2", bad)
    access = api.identity.credentials.create_ec2(alice, a, None).ec2_blob()["access"]
    # bob's path does not reach alice's credential, even for the admin
    api.refused(404, "GET", f"/users/{bob}/credentials/OS-EC2/{access}")
    api.refused(404, "DELETE", f"/users/{bob}/credentials/OS-EC2/{access}")
    api.refused(404, "GET", "/users/nobody/credentials/OS-EC2")
    # a non-ec2 credential is not an EC2 credential
    other = api.identity.credentials.create({"user_id": alice, "type": "totp", "blob": "b"})
    api.refused(404, "GET", f"/users/{alice}/credentials/OS-EC2/{other.id}")
    with api.identity.store.read() as tx:
        assert tx.scalar(sa.select(sa.func.count()).select_from(models.Credential)) == 2


def test_rotating_the_credential_keys_keeps_every_blob(api: Api) -> None:
    alice, _bob, _a = people(api)
    creds = api.identity.credentials
    made = [creds.create({"user_id": alice, "type": "totp", "blob": f"blob {i}"}).id
            for i in range(3)]
    keys = api.identity.credential_keys
    for _round in range(keys.max_active_keys + 1):  # past the oldest key's removal
        _primary, moved = creds.rotate_keys()
        assert moved == len(made)
    assert [creds.get(cid).blob for cid in made] == [f"blob {i}" for i in range(3)]
    primary = hashlib.sha1(keys.load()[0]).hexdigest()
    with api.identity.store.read() as tx:
        assert {tx.get(models.Credential, cid).key_hash for cid in made} == {primary}
    # the API reads them too (another process would reload the keys the same way)
    resp = api.call("GET", f"/credentials/{made[0]}")
    assert resp.json()["credential"]["blob"] == "blob 0"


def test_a_delegated_token_cannot_rewrite_a_credential(api: Api) -> None:
    """An application credential holding only ``reader`` must not turn the user's EC2
    credential into one it knows the secret of (or move it to another project): the
    EC2 token would carry every role of the user, on any of their projects."""
    alice, _bob, a = people(api)
    c = api.cloud.project("c")
    api.cloud.grant(alice, "c", "admin")
    token = as_user(api, "alice", "a")
    cred = api.call("POST", f"/users/{alice}/credentials/OS-EC2", {"tenant_id": a},
                    token=token).json()["credential"]
    made = api.call("POST", f"/users/{alice}/application_credentials",
                    {"application_credential": {"name": "ro", "roles": [{"name": "reader"}]}},
                    token=token).json()["application_credential"]
    resp = api.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": made["id"], "secret": made["secret"]}}}})
    assert resp.status_code == 201, resp.text
    limited = resp.headers["X-Subject-Token"]
    cred_id = hashlib.sha256(cred["access"].encode()).hexdigest()
    blob = json.dumps({"access": cred["access"], "secret": "known"})
    for change in ({"blob": blob}, {"project_id": c}):
        api.refused(403, "PATCH", f"/credentials/{cred_id}", {"credential": change},
                    token=limited)
    assert ec2_token(api, signed_request(cred["access"], "known")).status_code == 401
    assert ec2_token(api, signed_request(cred["access"], cred["secret"])).status_code == 200


def test_a_delegated_token_cannot_read_credential_secrets(api: Api) -> None:
    """The secret of an EC2 credential is a token with every role of its user: an
    application credential holding only ``reader`` (or a trust) must not read it."""
    alice, _bob, a = people(api)
    token = as_user(api, "alice", "a")
    cred = api.call("POST", f"/users/{alice}/credentials/OS-EC2", {"tenant_id": a},
                    token=token).json()["credential"]
    made = api.call("POST", f"/users/{alice}/application_credentials",
                    {"application_credential": {"name": "ro", "roles": [{"name": "reader"}]}},
                    token=token).json()["application_credential"]
    resp = api.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": made["id"], "secret": made["secret"]}}}})
    assert resp.status_code == 201, resp.text
    limited = resp.headers["X-Subject-Token"]
    cred_id = hashlib.sha256(cred["access"].encode()).hexdigest()
    for path in (f"/users/{alice}/credentials/OS-EC2",
                 f"/users/{alice}/credentials/OS-EC2/{cred['access']}",
                 "/credentials", f"/credentials/{cred_id}"):
        resp = api.call("GET", path, token=limited)
        assert resp.status_code == 403, (path, resp.text)
        assert cred["secret"] not in resp.text
        error_message(resp, 403)
    # the password token still reads them
    assert api.call("GET", f"/credentials/{cred_id}", token=token).status_code == 200
