"""Trusts through the API: delegation, trust-scoped tokens, their end."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from labs.common.errors import LabsError
from tests.conftest import Cloud
from tests.identity.test_bad_input import Api, error_message

TRUSTS = "/OS-TRUST/trusts"


@pytest.fixture(name="api")
def api_fixture(cloud: Cloud) -> Api:
    client = TestClient(cloud.client.app, base_url="http://testserver",
                        raise_server_exceptions=False)
    return Api(cloud, client, cloud.admin_token())


class World:
    def __init__(self, api: Api) -> None:
        cloud = api.cloud
        self.api = api
        self.a = cloud.project("a")
        self.alice = cloud.user("alice", "pw", {"a": "member"})  # the trustor
        cloud.grant(self.alice, "a", "reader")
        self.bob = cloud.user("bob", "pw")  # the trustee: no role anywhere
        self.carol = cloud.user("carol", "pw")
        self.member = api.identity.assignments.list_roles("member")[0].id
        self.reader = api.identity.assignments.list_roles("reader")[0].id

    def token(self, name: str, project: str | None = None) -> str:
        return self.api.cloud.token(name, "pw", project)

    def body(self, **fields: Any) -> dict[str, Any]:
        return {"trust": {"trustor_user_id": self.alice, "trustee_user_id": self.bob,
                          "impersonation": False, "project_id": self.a,
                          "roles": [{"name": "member"}], **fields}}

    def create(self, **fields: Any) -> dict[str, Any]:
        resp = self.api.call("POST", TRUSTS, self.body(**fields), token=self.token("alice", "a"))
        assert resp.status_code == 201, resp.text
        return dict(resp.json()["trust"])

    def auth(self, trust_id: str, user: str = "bob") -> Any:
        return self.api.call("POST", "/auth/tokens", {"auth": {
            "identity": {"methods": ["token"], "token": {"id": self.token(user)}},
            "scope": {"OS-TRUST:trust": {"id": trust_id}}}}, token=None)


def test_trust_create_show_list_roles_and_a_trust_scoped_token(api: Api) -> None:
    w = World(api)
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    trust = w.create(expires_at=expires)
    assert {k: trust[k] for k in ("trustor_user_id", "trustee_user_id", "project_id",
                                  "impersonation", "remaining_uses", "allow_redelegation",
                                  "expires_at")} == {
        "trustor_user_id": w.alice, "trustee_user_id": w.bob, "project_id": w.a,
        "impersonation": False, "remaining_uses": None, "allow_redelegation": False,
        "expires_at": expires}
    assert [(r["id"], r["name"]) for r in trust["roles"]] == [(w.member, "member")]
    assert trust["links"]["self"].endswith(f"/v3/OS-TRUST/trusts/{trust['id']}")
    bob = w.token("bob")
    shown = api.call("GET", f"{TRUSTS}/{trust['id']}", token=bob)
    assert shown.status_code == 200 and shown.json()["trust"] == trust
    roles = api.call("GET", f"{TRUSTS}/{trust['id']}/roles", token=bob).json()["roles"]
    assert [r["name"] for r in roles] == ["member"]
    assert api.call("GET", f"{TRUSTS}/{trust['id']}/roles/{w.member}",
                    token=bob).json()["role"]["name"] == "member"
    api.refused(404, "GET", f"{TRUSTS}/{trust['id']}/roles/{w.reader}")
    assert api.call("HEAD", f"{TRUSTS}/{trust['id']}/roles/{w.reader}").status_code == 404
    for query, token in ((f"?trustor_user_id={w.alice}", w.token("alice")),
                         (f"?trustee_user_id={w.bob}", bob), ("", "admin")):
        listed = api.call("GET", TRUSTS + query, token=token).json()["trusts"]
        assert [t["id"] for t in listed] == [trust["id"]], query
    assert api.call("GET", f"{TRUSTS}?trustee_user_id={w.carol}").json()["trusts"] == []

    resp = w.auth(trust["id"])
    assert resp.status_code == 201, resp.text
    token = resp.json()["token"]
    assert token["user"]["id"] == w.bob and token["project"]["id"] == w.a
    # the trust's member and the reader it implies (as Keystone expands them)
    assert [r["name"] for r in token["roles"]] == ["member", "reader"]
    assert token["OS-TRUST:trust"] == {"id": trust["id"], "impersonation": False,
                                       "trustor_user": {"id": w.alice},
                                       "trustee_user": {"id": w.bob}}
    assert token["expires_at"] <= expires
    held = resp.headers["X-Subject-Token"]
    assert api.call("GET", "/auth/catalog", token=held).status_code == 200
    # the token says where it came from when validated, too
    check = api.call("GET", "/auth/tokens", headers={"X-Subject-Token": held})
    assert check.json()["token"]["OS-TRUST:trust"]["id"] == trust["id"]
    # a trust-scoped token is not rescoped, and makes no credentials
    resp = api.call("POST", "/auth/tokens", {"auth": {"identity": {
        "methods": ["token"], "token": {"id": held}}, "scope": {"project": {"id": w.a}}}},
        token=None)
    assert resp.status_code == 403, resp.text
    resp = api.call("POST", f"/users/{w.bob}/credentials/OS-EC2", {"tenant_id": w.a},
                    token=held)
    assert resp.status_code == 403, resp.text
    resp = api.call("POST", f"/users/{w.bob}/application_credentials",
                    {"application_credential": {"name": "escape"}}, token=held)
    assert resp.status_code == 403, resp.text


def test_impersonation_gives_the_trustor_s_identity(api: Api) -> None:
    w = World(api)
    trust = w.create(impersonation=True, roles=[{"id": w.member}, {"name": "reader"}])
    resp = w.auth(trust["id"])
    token = resp.json()["token"]
    assert token["user"]["id"] == w.alice
    assert sorted(r["name"] for r in token["roles"]) == ["member", "reader"]
    assert token["OS-TRUST:trust"]["impersonation"] is True
    # acting as alice, bob makes nothing of hers that would outlive the trust
    held = resp.headers["X-Subject-Token"]
    for path, body in ((f"/users/{w.alice}/application_credentials",
                        {"application_credential": {"name": "escape"}}),
                       (f"/users/{w.alice}/credentials/OS-EC2", {"tenant_id": w.a}),
                       ("/credentials", {"credential": {"user_id": w.alice, "type": "ec2",
                                                        "project_id": w.a,
                                                        "blob": '{"access": "a"}'}})):
        api.refused(403, "POST", path, body, token=held)


def test_only_the_trustee_uses_a_trust_and_remaining_uses_count_down(api: Api) -> None:
    w = World(api)
    trust = w.create(remaining_uses=2)
    resp = w.auth(trust["id"], "carol")
    assert resp.status_code == 403, resp.text
    assert w.auth(trust["id"]).status_code == 201
    shown = api.call("GET", f"{TRUSTS}/{trust['id']}").json()["trust"]
    assert shown["remaining_uses"] == 1
    assert w.auth(trust["id"]).status_code == 201
    resp = w.auth(trust["id"])
    assert resp.status_code == 404, resp.text  # used up: gone, as in Keystone
    error_message(resp, 404)


def test_remaining_uses_hold_under_concurrent_authentications(api: Api) -> None:
    w = World(api)
    bob = w.token("bob")
    tokens = api.identity.tokens
    for _attempt in range(4):
        trust = w.create(remaining_uses=1)
        barrier = threading.Barrier(3)
        results: list[str] = []

        def redeem(trust_id: str = trust["id"], barrier: threading.Barrier = barrier,
                   results: list[str] = results) -> None:
            barrier.wait()
            try:
                tokens.issue({"identity": {"methods": ["token"], "token": {"id": bob}},
                              "scope": {"OS-TRUST:trust": {"id": trust_id}}})
                results.append("ok")
            except LabsError as exc:
                results.append(str(exc.code))

        threads = [threading.Thread(target=redeem) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(results) == 3 and results.count("ok") == 1, results
        assert set(results) - {"ok"} <= {"403", "404"}, results


def test_deleting_the_trust_or_the_trustor_losing_the_role_ends_its_tokens(api: Api) -> None:
    w = World(api)
    first, second = w.create(), w.create()
    tokens = [w.auth(t["id"]).headers["X-Subject-Token"] for t in (first, second)]
    for token in tokens:
        assert api.call("GET", "/auth/catalog", token=token).status_code == 200
    # bob is the trustee, not the trustor: he cannot delete it
    api.refused(403, "DELETE", f"{TRUSTS}/{first['id']}", token=w.token("bob"))
    assert api.call("DELETE", f"{TRUSTS}/{first['id']}",
                    token=w.token("alice", "a")).status_code == 204
    resp = api.call("GET", "/auth/catalog", token=tokens[0])
    assert resp.status_code == 401, resp.text
    api.refused(404, "GET", f"{TRUSTS}/{first['id']}")
    # alice loses member on a: the second trust's token goes, and no new one is made
    api.ok("DELETE", f"/projects/{w.a}/users/{w.alice}/roles/{w.member}")
    assert api.call("GET", "/auth/catalog", token=tokens[1]).status_code == 401
    assert w.auth(second["id"]).status_code == 403


def test_bad_trusts_are_refused_and_write_nothing(api: Api) -> None:
    w = World(api)
    alice = w.token("alice", "a")
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    cases: list[tuple[int, dict[str, Any]]] = [
        (400, {"trust": {}}), (400, {"trust": {"trustor_user_id": w.alice}}),
        (400, w.body(impersonation="yes")), (400, w.body(remaining_uses=0)),
        (400, w.body(remaining_uses=-1)), (400, w.body(roles="member")),
        (400, w.body(roles=[])), (400, w.body(expires_at="tomorrow")),
        (400, w.body(expires_at=past)), (400, w.body(redelegation_count=-1)),
        (400, w.body(allow_redelegation=True, remaining_uses=1)),
        (403, w.body(trustor_user_id=w.carol)),
        (403, w.body(allow_redelegation=True, redelegation_count=9)),
        (404, w.body(trustee_user_id="nobody")), (404, w.body(project_id="nowhere")),
        (404, w.body(roles=[{"name": "admin"}])),  # a role alice does not hold on a
        (404, w.body(roles=[{"name": "no-such-role"}])),
    ]
    for code, body in cases:
        api.refused(code, "POST", TRUSTS, body, token=alice)
    assert api.identity.trusts.list() == []
    # listing others' trusts, or all of them, is the admin's
    api.refused(403, "GET", TRUSTS, token=alice)
    api.refused(403, "GET", f"{TRUSTS}?trustee_user_id={w.carol}", token=alice)
    api.refused(404, "POST", "/auth/tokens", {"auth": {
        "identity": {"methods": ["token"], "token": {"id": w.token("bob")}},
        "scope": {"OS-TRUST:trust": {"id": "nothing"}}}}, token=None)


def test_redelegation_within_its_count(api: Api) -> None:
    w = World(api)
    trust = w.create(allow_redelegation=True, redelegation_count=1)
    assert trust["redelegation_count"] == 1
    held = w.auth(trust["id"]).headers["X-Subject-Token"]
    body = {"trust": {"trustor_user_id": w.bob, "trustee_user_id": w.carol,
                      "impersonation": False, "project_id": w.a, "allow_redelegation": True,
                      "roles": [{"name": "member"}]}}
    resp = api.call("POST", TRUSTS, body, token=held)
    assert resp.status_code == 201, resp.text
    child = resp.json()["trust"]
    assert child["redelegated_trust_id"] == trust["id"]
    assert child["redelegation_count"] == 0 and child["allow_redelegation"] is False
    carol = w.auth(child["id"], "carol")
    assert carol.status_code == 201, carol.text
    # the end of the chain: no further redelegation, nor impersonation it was not given
    again = {"trust": {**body["trust"], "trustor_user_id": w.carol, "trustee_user_id": w.bob}}
    api.refused(403, "POST", TRUSTS, again, token=carol.headers["X-Subject-Token"])
    api.refused(403, "POST", TRUSTS, {"trust": {**body["trust"], "impersonation": True}},
                token=held)
    # deleting the parent takes the child with it
    api.ok("DELETE", f"{TRUSTS}/{trust['id']}")
    api.refused(404, "GET", f"{TRUSTS}/{child['id']}")


def test_deleting_a_user_deletes_their_trusts_and_credentials(api: Api) -> None:
    w = World(api)
    as_trustor, as_trustee = w.create(), w.create(trustee_user_id=w.carol)
    api.identity.credentials.create_ec2(w.bob, w.a, None)
    api.ok("DELETE", f"/users/{w.bob}")
    api.refused(404, "GET", f"{TRUSTS}/{as_trustor['id']}")
    assert api.ok("GET", f"{TRUSTS}/{as_trustee['id']}")["trust"]["trustee_user_id"] == w.carol
    assert api.ok("GET", f"/credentials?user_id={w.bob}")["credentials"] == []
    api.ok("DELETE", f"/users/{w.alice}")
    assert api.ok("GET", TRUSTS)["trusts"] == []


def test_a_trust_without_a_project_gives_an_unscoped_trust_token(api: Api) -> None:
    w = World(api)
    body = w.body(project_id=None)
    del body["trust"]["roles"]
    resp = api.call("POST", TRUSTS, body, token=w.token("alice", "a"))
    assert resp.status_code == 201, resp.text
    trust = resp.json()["trust"]
    assert (trust["project_id"], trust["roles"]) == (None, [])
    resp = w.auth(trust["id"])
    assert resp.status_code == 201, resp.text
    token = resp.json()["token"]
    assert "project" not in token and "roles" not in token and "catalog" not in token
    assert token["OS-TRUST:trust"]["id"] == trust["id"]


def test_a_role_the_trustor_holds_by_implication_is_delegated(api: Api) -> None:
    """As Keystone: carol holds member on a directly, and reader through member."""
    w = World(api)
    api.cloud.grant(w.carol, "a", "member")
    resp = api.call("POST", TRUSTS, w.body(trustor_user_id=w.carol, roles=[{"name": "reader"}]),
                    token=w.token("carol", "a"))
    assert resp.status_code == 201, resp.text
    token = w.auth(resp.json()["trust"]["id"]).json()["token"]
    assert [r["name"] for r in token["roles"]] == ["reader"]
