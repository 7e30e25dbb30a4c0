"""The accounts API fuzzed from its OpenAPI document (see tests/fuzzing.py)."""

from __future__ import annotations

import pytest

from labs.accounts.api import build_api
from tests.accounts.conftest import AccountsCloud
from tests.accounts.keys_helpers import ed25519_public
from tests.fuzzing import (
    Fuzz,
    check_document,
    fuzz,
    keystone_shape,
    mariadb_only,  # noqa: F401 -- this module's db_url
    serve,
)


@pytest.mark.fuzz
def test_fuzz_accounts(acloud: AccountsCloud) -> None:
    acloud.project("b")
    acloud.project("victims")
    member = acloud.user("bob", "pw", {"b": "member"})
    victim = acloud.user("victim", "pw", {"victims": "member"})
    assert acloud.accounts is not None
    key = acloud.accounts.add_key(victim, ed25519_public())
    acloud.accounts.add_key(member, ed25519_public())
    known = {"user_id": [victim, member], "fingerprint": [key.fingerprint]}
    callers = {"admin": {"X-Auth-Token": acloud.admin_token()},
               "member of b": {"X-Auth-Token": acloud.token("bob", "pw", "b")}}
    doc = acloud.client.get("/accounts/v1/openapi.json").json()
    check_document(doc, build_api(acloud.accounts, acloud.identity.tokens))
    with serve(acloud.client.app) as url:
        fuzz(Fuzz(f"{url}/accounts", callers, keystone_shape, known), doc)
