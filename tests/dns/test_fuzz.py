"""The DNS API fuzzed from its OpenAPI document (see tests/fuzzing.py)."""

from __future__ import annotations

import pytest

from labs.dns.api import build_api
from tests.dns.api_helpers import Dns, dns_fixture  # noqa: F401
from tests.fuzzing import (
    Fuzz,
    check_document,
    designate_shape,
    fuzz,
    mariadb_only,  # noqa: F401 -- this module's db_url
    serve,
)


@pytest.mark.fuzz
def test_fuzz_dns(dns: Dns) -> None:
    zone = dns.zone("victim.example.org.")
    recordset = dns.recordset(zone["id"], "www.victim.example.org.", "A", ["10.0.0.1"])
    assert recordset.status_code == 202, recordset.text
    tld = dns.ok("POST", "/tlds", "admin", json={"name": "org"})
    known = {"zone_id": [zone["id"]], "recordset_id": [recordset.json()["id"]],
             "tld_id": [tld["id"]], "project_id": [dns.projects["a"], dns.projects["b"]]}
    callers = {"admin": {"X-Auth-Token": dns.token("admin")},
               "member of b": {"X-Auth-Token": dns.token("bob")}}
    doc = dns.client.get("/dns/v2/openapi.json").json()
    check_document(doc, build_api(dns.service, dns.cloud.identity.tokens))
    with serve(dns.client.app) as url:
        fuzz(Fuzz(f"{url}/dns", callers, designate_shape, known), doc)
