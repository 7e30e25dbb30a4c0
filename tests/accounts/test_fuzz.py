"""The accounts API fuzzed from its OpenAPI document (see tests/fuzzing.py)."""

from __future__ import annotations

import pytest

from labs.accounts.api import build_api
from tests.accounts.conftest import AccountsCloud
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
    victim = acloud.project("victim")
    own = acloud.project("b")
    bob = acloud.user("bob", "pw", {"b": "projectadmin"})
    victim_user = acloud.user("victim", "pw", {"victim": "member"})
    assert acloud.accounts is not None
    doc = acloud.client.get("/accounts/v1/openapi.json").json()
    check_document(doc, build_api(acloud.accounts, acloud.identity.tokens))
    known = {"project_id": [victim, own], "name": ["default-sudo", "default-sudo-as"],
             "user_id": [victim_user, bob]}
    callers = {"admin": {"X-Auth-Token": acloud.admin_token()},
               "project admin of b": {"X-Auth-Token": acloud.token("bob", "pw", "b")}}
    with serve(acloud.client.app) as url:
        fuzz(Fuzz(f"{url}/accounts", callers, keystone_shape, known), doc)
