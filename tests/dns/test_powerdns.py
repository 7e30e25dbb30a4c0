"""The PowerDNS backend against a private pdns_server: what is particular to PowerDNS.

What every backend must do (each record type over UDP and TCP, NXDOMAIN and NODATA,
republishing, removal, bad zones, concurrent publishing) is checked by the backend
contract (tests/dns/test_backend_contract.py), where PowerDNS is one of the cases.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import httpx
import pytest

from labs.dns.backends.base import BackendError, RecordSet, Zone
from labs.dns.backends.powerdns import PowerDnsBackend, zone_id
from tests.dns.conftest import Dig
from tests.dns.powerdns_helpers import ADDRESS, PowerDnsCase, PowerDnsServer, free_port

ZONE = "tools.labs.test."
FAST = 2.0  # seconds: what "fails fast" means here


def name(label: str) -> str:
    return f"{label}.{ZONE}" if label else ZONE


def soa(serial: int) -> RecordSet:
    return RecordSet(ZONE, "SOA", 3600,
                     (f"ns1.labs.test. hostmaster.labs.test. {serial} 3600 600 86400 300",))


def tools_zone(serial: int, *recordsets: RecordSet) -> Zone:
    ns = RecordSet(ZONE, "NS", 3600, ("ns1.labs.test.",))
    return Zone(ZONE, serial, (soa(serial), ns, *recordsets))


WEB = RecordSet(name("web"), "A", 300, ("10.68.1.2",))
WWW = RecordSet(name("www"), "CNAME", 300, (name("web"),))
MAIL = RecordSet(ZONE, "MX", 600, (f"10 {name('web')}",))


def texts(response: dns.message.Message, rtype: str) -> set[str]:
    rdtype = dns.rdatatype.from_text(rtype)
    return {rd.to_text() for rrset in response.answer if rrset.rdtype == rdtype for rd in rrset}


def served_serial(case: PowerDnsCase) -> int:
    [rrset] = case.query(ZONE, "SOA").answer
    serial: int = rrset[0].serial
    return serial


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PowerDnsServer]:
    running = PowerDnsServer.start(tmp_path_factory.mktemp("pdns"))
    yield running
    running.stop()


@pytest.fixture
def case(server: PowerDnsServer) -> Iterator[PowerDnsCase]:
    built = PowerDnsCase(server)
    built.clear()
    yield built
    built.close()


@pytest.fixture
def api(server: PowerDnsServer) -> Iterator[httpx.Client]:
    """PowerDNS's API as an operator would use it, beside Labs."""
    with httpx.Client(base_url=f"{server.api_url}/api/v1/servers/localhost",
                      headers={"X-API-Key": server.api_key}, timeout=5.0) as client:
        yield client


def test_zone_ids_are_powerdns_own() -> None:
    assert zone_id("tools.labs.test.") == "tools.labs.test."
    assert zone_id("my_zone.labs.test.") == "my=5Fzone.labs.test."
    assert zone_id(".") == "=2E"


def test_published_zone_is_answered_over_udp_tcp_and_dig(case: PowerDnsCase, dig: Dig) -> None:
    case.backend.publish(tools_zone(7, WEB, WWW, MAIL))
    for tcp in (False, True):
        response = case.query(name("www"), "A", tcp=tcp)
        assert response.rcode() == dns.rcode.NOERROR and response.flags & dns.flags.AA
        assert texts(response, "CNAME") == {name("web")}
        assert texts(response, "A") == {"10.68.1.2"}
    assert dig(case.port, "+short", "MX", ZONE) == f"10 {name('web')}\n"
    assert dig(case.port, "+tcp", "+short", "SOA", ZONE).split()[2] == "7"
    assert served_serial(case) == case.backend.serial(ZONE) == 7
    assert case.backend.zone_names() == [ZONE]


def test_serial_is_ours_even_for_a_zone_made_elsewhere(case: PowerDnsCase,
                                                       api: httpx.Client) -> None:
    """A zone an operator made by hand rewrites serials (SOA-EDIT-API DEFAULT) and holds
    records Labs does not know: publishing takes it over, serial and all."""
    made = api.post("/zones", json={
        "name": ZONE, "kind": "Native", "nameservers": ["ns1.labs.test."],
        "rrsets": [{"name": name("stray"), "type": "TXT", "ttl": 60,
                    "records": [{"content": '"by hand"', "disabled": False}]}]})
    assert made.status_code == 201, made.text
    assert made.json()["soa_edit_api"] == "DEFAULT"
    case.backend.publish(tools_zone(41, WEB))
    assert served_serial(case) == case.backend.serial(ZONE) == 41
    assert case.query(name("stray"), "TXT").rcode() == dns.rcode.NXDOMAIN
    case.backend.publish(tools_zone(42, WEB, MAIL))
    assert served_serial(case) == 42  # not rewritten on a later change either
    assert api.get(f"/zones/{ZONE}").json()["soa_edit_api"] == ""


def test_a_name_changes_type_in_one_publish(case: PowerDnsCase) -> None:
    """PowerDNS refuses a CNAME beside other data even for a moment inside one PATCH."""
    case.backend.publish(tools_zone(1, WEB, WWW))
    case.backend.publish(tools_zone(2, RecordSet(name("web"), "CNAME", 300, (name("app"),)),
                                    RecordSet(name("app"), "A", 300, ("10.68.1.3",)),
                                    RecordSet(name("www"), "A", 300, ("10.68.1.4",))))
    assert texts(case.query(name("web"), "A"), "CNAME") == {name("app")}
    assert texts(case.query(name("www"), "A"), "A") == {"10.68.1.4"}
    assert texts(case.query(name("www"), "CNAME"), "CNAME") == set()


def test_rejected_publish_changes_nothing(case: PowerDnsCase) -> None:
    case.backend.publish(tools_zone(1, WEB, MAIL))
    moved = RecordSet(name("web"), "A", 300, ("10.68.1.99",))
    bad_mx = RecordSet(ZONE, "MX", 600, ("web.tools.labs.test.",))
    with pytest.raises(BackendError, match=r"could not update zone tools\.labs\.test\.: "
                                           r"HTTP 422: .*Parsing record content"):
        case.backend.publish(tools_zone(2, moved, bad_mx))
    assert texts(case.query(name("web"), "A"), "A") == {"10.68.1.2"}
    assert texts(case.query(ZONE, "MX"), "MX") == {f"10 {name('web')}"}
    assert served_serial(case) == case.backend.serial(ZONE) == 1


def test_soa_must_carry_the_zones_serial(case: PowerDnsCase) -> None:
    with pytest.raises(BackendError, match="does not carry the zone's serial 3"):
        case.backend.publish(Zone(ZONE, 3, tools_zone(2, WEB).recordsets))
    assert case.backend.zone_names() == []


def test_zone_made_after_refused_queries_is_answered_at_once(case: PowerDnsCase) -> None:
    """PowerDNS caches the REFUSED answers given before the zone existed."""
    for tcp in (False, True):
        assert case.query(name("web"), "A", tcp=tcp).rcode() == dns.rcode.REFUSED
    case.backend.publish(tools_zone(1, WEB))
    for tcp in (False, True):
        assert texts(case.query(name("web"), "A", tcp=tcp), "A") == {"10.68.1.2"}
    case.backend.remove(ZONE)
    assert case.query(name("web"), "A").rcode() == dns.rcode.REFUSED
    assert case.backend.serial(ZONE) is None


def test_publish_again_changes_nothing(case: PowerDnsCase, api: httpx.Client) -> None:
    case.backend.publish(tools_zone(5, WEB, WWW, MAIL))
    before = api.get(f"/zones/{ZONE}").json()["rrsets"]
    case.backend.publish(tools_zone(5, WEB, WWW, MAIL))
    after = api.get(f"/zones/{ZONE}").json()["rrsets"]
    key = lambda rrset: (rrset["name"], rrset["type"])  # noqa: E731
    assert sorted(after, key=key) == sorted(before, key=key)
    assert len(after) == 5
    assert served_serial(case) == 5


def test_publish_is_logged(case: PowerDnsCase, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="labs.dns.powerdns"):
        case.backend.publish(tools_zone(3, WEB))
        case.backend.publish(tools_zone(4, WEB, MAIL))
    messages = [r.getMessage() for r in caplog.records if r.name == "labs.dns.powerdns"]
    assert any(f"zone {ZONE} serial 3" in m and "created with 3 recordsets" in m
               for m in messages), messages
    assert any(f"zone {ZONE} serial 4" in m and "4 recordsets, 0 removed" in m
               for m in messages), messages


def test_unreachable_api_fails_fast() -> None:
    port = free_port()  # nothing listens there
    backend = PowerDnsBackend(f"http://{ADDRESS}:{port}", "key", timeout=FAST)
    calls: list[Callable[[], object]] = [
        lambda: backend.publish(tools_zone(1, WEB)), lambda: backend.remove(ZONE),
        backend.zone_names, lambda: backend.serial(ZONE)]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(BackendError, match=rf"cannot reach PowerDNS at http://127\.0\.0\.1:"
                                               rf"{port} .*check that pdns_server runs"):
            call()
        assert time.monotonic() - started < FAST
    backend.close()


def test_silent_api_times_out() -> None:
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind((ADDRESS, 0))
        listener.listen(4)
        backend = PowerDnsBackend(f"http://{ADDRESS}:{listener.getsockname()[1]}", "key",
                                  timeout=0.3)
        started = time.monotonic()
        with pytest.raises(BackendError, match=r"did not answer within 0\.3 s to list zones"):
            backend.zone_names()
        assert time.monotonic() - started < FAST
        backend.close()


def test_wrong_key_and_wrong_server_id(server: PowerDnsServer) -> None:
    wrong_key = PowerDnsBackend(server.api_url, "not-the-key", timeout=FAST)
    with pytest.raises(BackendError, match=r"refused the API key .*HTTP 401.*api-key"):
        wrong_key.publish(tools_zone(1, WEB))
    wrong_key.close()
    wrong_id = PowerDnsBackend(server.api_url + "/api/v1/", server.api_key, server_id="nope",
                               timeout=FAST)
    with pytest.raises(BackendError, match=r"\(server nope\) has no such API resource.*server id"):
        wrong_id.zone_names()
    wrong_id.close()


def test_warns_when_the_query_cache_is_on(tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    cached = PowerDnsServer.start(tmp_path, ("--query-cache-ttl=20", "--negquery-cache-ttl=60"))
    try:
        case = PowerDnsCase(cached)
        with caplog.at_level(logging.WARNING, logger="labs.dns.powerdns"):
            case.backend.publish(tools_zone(1, WEB))
            case.backend.publish(tools_zone(2, WEB))
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, warnings
        assert "query-cache-ttl=20, negquery-cache-ttl=60" in warnings[0]
        case.close()
    finally:
        cached.stop()
