"""The accounts API fuzzed from its OpenAPI document (see tests/fuzzing.py)."""

from __future__ import annotations

import pytest

from tests.accounts.sudo_app import accounts_api
from tests.conftest import Cloud
from tests.fuzzing import (
    Fuzz,
    check_document,
    fuzz,
    keystone_shape,
    mariadb_only,  # noqa: F401 -- this module's db_url
    serve,
)


@pytest.mark.fuzz
def test_fuzz_accounts(cloud: Cloud) -> None:
    victim = cloud.project("victim")
    own = cloud.project("b")
    cloud.user("bob", "pw", {"b": "projectadmin"})
    api = accounts_api(cloud.identity)
    doc = api.openapi()
    check_document(doc, api)
    known = {"project_id": [victim, own], "name": ["default-sudo", "default-sudo-as"]}
    callers = {"admin": {"X-Auth-Token": cloud.admin_token()},
               "project admin of b": {"X-Auth-Token": cloud.token("bob", "pw", "b")}}
    with serve(api.app()) as url:
        fuzz(Fuzz(url, callers, keystone_shape, known), doc)
