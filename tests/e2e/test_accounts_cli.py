"""Accounts through the unchanged `openstack` CLI and the accounts API of `labs up`."""

from __future__ import annotations

import httpx
import pytest

from tests.accounts.keys_helpers import ed25519_public
from tests.e2e.conftest import RunningCloud

pytestmark = pytest.mark.e2e


def test_openstack_user_create_makes_an_account(labs_cloud: RunningCloud) -> None:
    """The CLI prints a fixed set of a user's columns; the user it made shows its
    account in the identity API's answer and in the accounts API."""
    c = labs_cloud
    made = c.openstack_json("user", "create", "--password", "kim-pw", "Kim Lee")
    twin = c.openstack_json("user", "create", "--password", "pw", "kim.lee")
    admin = {"X-Auth-Token": c.openstack("token", "issue", "-f", "value",
                                         "-c", "id").stdout.strip()}
    shown = httpx.get(f"{c.url}/identity/v3/users/{made['id']}", headers=admin,
                      timeout=10).json()["user"]
    assert shown["shell_name"] == "kim-lee"
    assert shown["uid_number"] == shown["gid_number"] >= 10000
    other = httpx.get(f"{c.url}/identity/v3/users/{twin['id']}", headers=admin,
                      timeout=10).json()["user"]
    assert other["shell_name"] == "kim-lee1"
    assert other["uid_number"] != shown["uid_number"]

    endpoints = {e["Service Type"]: e for e in c.openstack_json("endpoint", "list")}
    assert endpoints["accounts"]["URL"] == f"{c.url}/accounts/v1"
    login = httpx.post(f"{c.url}/identity/v3/auth/tokens", timeout=30, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "Kim Lee", "domain": {"id": "default"}, "password": "kim-pw"}}}}})
    assert login.status_code == 201, login.text
    headers = {"X-Auth-Token": login.headers["X-Subject-Token"]}
    base = f"{c.url}/accounts/v1/accounts/{made['id']}"
    account = httpx.get(base, headers=headers, timeout=10)
    assert account.status_code == 200, account.text
    assert account.json()["account"]["home_directory"] == "/home/kim-lee"
    key = httpx.post(f"{base}/keys", headers=headers, timeout=10,
                     json={"key": {"public_key": ed25519_public()}})
    assert key.status_code == 201, key.text
    theirs = httpx.get(f"{c.url}/accounts/v1/accounts/{twin['id']}/keys", headers=headers,
                       timeout=10)
    assert theirs.status_code == 403
