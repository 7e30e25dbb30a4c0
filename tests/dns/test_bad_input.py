"""Bad requests to the DNS API get a clear 4xx in Designate's error format, never a 500,
and leave nothing behind."""

from __future__ import annotations

import pytest

from tests.dns.api_helpers import Dns, dns_fixture, error  # noqa: F401

SUPERSCRIPT_TWO = "\u00b2"  # str.isdigit takes it, int() does not


@pytest.mark.parametrize("query,type_", [
    (f"limit={SUPERSCRIPT_TWO}", "invalid_limit"),
    (f"ttl={SUPERSCRIPT_TWO}", "bad_request"),
    ("ttl=" + "9" * 40, "bad_request"),
])
def test_numbers_in_list_queries(dns: Dns, query: str, type_: str) -> None:
    resp = dns.call("GET", f"/zones?{query}")
    if resp.status_code == 200:  # a TTL no zone has: nothing matches
        assert resp.json()["zones"] == []
    else:
        error(resp, 400, type_)


@pytest.mark.parametrize("type_,record", [
    ("MX", f"{SUPERSCRIPT_TWO} mail.example.org."),
    ("SRV", f"1 {SUPERSCRIPT_TWO} 80 web.example.org."),
    ("CAA", f"{SUPERSCRIPT_TWO} issue letsencrypt.org"),
])
def test_numbers_in_record_data(dns: Dns, type_: str, record: str) -> None:
    zone = dns.zone("example.org.")
    name = "_x._tcp.example.org." if type_ == "SRV" else "x.example.org."
    error(dns.recordset(zone["id"], name, type_, [record]), 400, "invalid_object")
    assert {rs["type"] for rs in dns.rrsets(zone["id"])} == {"SOA", "NS"}
