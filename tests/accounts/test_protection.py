"""Protection: who may call which accounts endpoint.

Six callers: the cloud ``admin``, the ``projectadmin``, a ``member`` and a ``reader`` of
project A (``pa``, ``ma``, ``ra``), a ``member`` of project B (``mb``) and no token
(``anon``). Every route acts on the account of ``ma``: only ``ma`` and the admin may;
everyone else gets 403 (``anon`` 401), whatever their role in ``ma``'s project. Then
each caller acts on their own account, which every token holder may (disabling excepted:
admins only). Sign-up is open to anyone, when the operator enables it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from labs.accounts.api import build_api
from labs.accounts.config import AccountsOptions
from labs.accounts.service import AccountsService
from tests.accounts.conftest import AccountsCloud
from tests.accounts.keys_helpers import ed25519_public
from tests.conftest import ADMIN_PASSWORD

ADMIN, PA, MA, RA, MB, ANON = "admin", "pa", "ma", "ra", "mb", "anon"
CALLERS = (ADMIN, PA, MA, RA, MB, ANON)
LOGINS = {ADMIN: ("admin", ADMIN_PASSWORD, "admin"), PA: ("pa", "pw", "a"),
          MA: ("ma", "pw", "a"), RA: ("ra", "pw", "a"), MB: ("mb", "pw", "b")}
ROLE_ON = {PA: ("a", "projectadmin"), MA: ("a", "member"), RA: ("a", "reader"),
           MB: ("b", "member")}


@dataclass
class World:
    cloud: AccountsCloud
    ids: dict[str, str]
    tokens: dict[str, str]

    def call(self, caller: str, method: str, path: str,
             body: object | None = None) -> tuple[int, object]:
        headers = self.cloud.headers(self.tokens.get(caller))
        resp = self.cloud.client.request(method, path, headers=headers, json=body)
        return resp.status_code, resp.json() if resp.content else None


@pytest.fixture
def world(acloud: AccountsCloud) -> World:
    acloud.project("a")
    acloud.project("b")
    ids = {c: acloud.user(c, "pw", {ROLE_ON[c][0]: ROLE_ON[c][1]}) for c in ROLE_ON}
    ids[ADMIN] = acloud.identity.users.find_user_by_shell_name("admin").id
    tokens = {c: acloud.token(*LOGINS[c]) for c in LOGINS}
    return World(acloud, ids, tokens)


def _add_key(world: World, caller: str) -> str:
    """A fresh key on the caller's account (added as themselves); its fingerprint."""
    status, body = world.call(caller, "POST", world.cloud.url(world.ids[caller], "/keys"),
                              {"key": {"public_key": ed25519_public()}})
    assert status == 201, body
    assert isinstance(body, dict)
    return str(body["key"]["fingerprint"])


#: route -> (method, path suffix on the account, body maker)
Request = tuple[str, str, Callable[[World], object | None]]
ROUTES: dict[str, Request] = {
    "GET /v1/accounts/{user_id}": ("GET", "", lambda w: None),
    "PATCH /v1/accounts/{user_id}": ("PATCH", "",
                                     lambda w: {"account": {"login_shell": "/bin/sh"}}),
    "GET /v1/accounts/{user_id}/keys": ("GET", "/keys", lambda w: None),
    "POST /v1/accounts/{user_id}/keys": ("POST", "/keys",
                                         lambda w: {"key": {"public_key": ed25519_public()}}),
}
OK = {"GET": 200, "PATCH": 200, "POST": 201, "DELETE": 204}


def _expect(world: World, caller: str, allowed: bool, status: int, body: object) -> None:
    if caller == ANON:
        assert status == 401, body
    elif allowed:
        assert status < 300, body
    else:
        assert status == 403, body
        assert isinstance(body, dict) and body["error"]["code"] == 403


@pytest.mark.parametrize("caller", CALLERS)
def test_only_the_owner_and_admins_reach_an_account(world: World, caller: str) -> None:
    target = world.ids[MA]
    fingerprint = _add_key(world, MA)
    for method, suffix, body in ROUTES.values():
        status, answer = world.call(caller, method, world.cloud.url(target, suffix),
                                    body(world))
        _expect(world, caller, caller in (ADMIN, MA), status, answer)
        if caller not in (ADMIN, MA):
            assert "ssh-ed25519" not in str(answer)
    status, answer = world.call(caller, "DELETE",
                                world.cloud.url(target, f"/keys/{fingerprint}"))
    _expect(world, caller, caller in (ADMIN, MA), status, answer)
    status, answer = world.call(caller, "GET", "/accounts/v1/authorized_keys/ma")
    _expect(world, caller, caller == ADMIN, status, answer)
    status, answer = world.call(caller, "PATCH", world.cloud.url(target),
                                {"account": {"enabled": False}})
    _expect(world, caller, caller == ADMIN, status, answer)


@pytest.mark.parametrize("caller", sorted(LOGINS.keys() - {ADMIN}))
def test_everyone_manages_their_own_account(world: World, caller: str) -> None:
    own = world.ids[caller]
    for method, suffix, body in ROUTES.values():
        status, answer = world.call(caller, method, world.cloud.url(own, suffix), body(world))
        assert status == OK[method], answer
    fingerprint = _add_key(world, caller)
    status, answer = world.call(caller, "DELETE", world.cloud.url(own, f"/keys/{fingerprint}"))
    assert status == 204, answer
    status, answer = world.call(caller, "PATCH", world.cloud.url(own),
                                {"account": {"enabled": False}})
    assert status == 403, answer


def test_another_projects_member_reads_no_keys_anywhere(world: World) -> None:
    """Nothing ``mb`` can call shows a key of project A's members."""
    key = ed25519_public()
    status, _ = world.call(MA, "POST", world.cloud.url(world.ids[MA], "/keys"),
                           {"key": {"public_key": key}})
    assert status == 201
    data = key.split()[1]
    for path in (world.cloud.url(world.ids[MA]), world.cloud.url(world.ids[MA], "/keys"),
                 f"/identity/v3/users/{world.ids[MA]}", "/identity/v3/users",
                 "/identity/v3/users?name=ma", "/accounts/v1/openapi.json"):
        _status, answer = world.call(MB, "GET", path)
        assert data not in str(answer), path


@pytest.mark.parametrize("caller", CALLERS)
def test_sign_up_is_public_but_only_when_enabled(world: World, caller: str) -> None:
    body = {"account": {"name": f"new-{caller}", "password": "pw"}}
    status, answer = world.call(caller, "POST", "/accounts/v1/signup", body)
    assert status == 201, answer
    closed = AccountsService(world.cloud.identity, AccountsOptions())
    app = build_api(closed, world.cloud.identity.tokens).app()
    with TestClient(app) as client:
        resp = client.post("/v1/signup", json={"account": {"name": f"x-{caller}",
                                                           "password": "pw"}},
                           headers=world.cloud.headers(world.tokens.get(caller)))
    assert resp.status_code == 403, resp.text
