"""The DNS backend contract: one suite every backend runs, over the wire, then tests of the
embedded backend only.

A backend joins the suite with one entry in CASES: a context manager that builds it in a
test's temporary directory and yields a `Served`, which says where its DNS answers come
from. The checks publish zones through the backend and ask real DNS questions, with
dnspython and with `dig`. A case may share one long-running server between tests: every
zone is removed after each test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest

from labs.dns.backends.base import BackendError, DnsBackend, RecordSet, Zone
from labs.dns.backends.embedded import EmbeddedBackend
from labs.dns.server_limits import ServerLimits
from tests.dns.conftest import Dig
from tests.dns.powerdns_helpers import powerdns_served

QUERY_TIMEOUT = 2.0
ZONE = "bots.labs.internal."
REVERSE = "0.68.10.in-addr.arpa."
SOA_TTL, SOA_MINIMUM = 3600, 300


@dataclass(frozen=True)
class Served:
    """A backend and the address where its DNS server answers, UDP and TCP alike."""

    backend: DnsBackend
    address: str
    port: int

    def query(self, qname: str, qtype: str, tcp: bool = False) -> dns.message.Message:
        query = dns.message.make_query(qname, qtype)
        send = dns.query.tcp if tcp else dns.query.udp
        return send(query, self.address, port=self.port, timeout=QUERY_TIMEOUT)


@contextmanager
def _embedded(tmp_path: Path) -> Iterator[Served]:
    backend = EmbeddedBackend("127.0.0.1", 0, ServerLimits.of(allow_transfer=["127.0.0.1"]))
    try:
        yield Served(backend, "127.0.0.1", backend.port)
    finally:
        backend.close()


CASES: dict[str, Callable[[Path], AbstractContextManager[Served]]] = {
    "embedded": _embedded, "powerdns": powerdns_served}


@pytest.fixture(params=list(CASES))
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    with CASES[request.param](tmp_path) as built:
        try:
            yield built
        finally:
            for name in built.backend.zone_names():
                built.backend.remove(name)


def soa(zone: str, serial: int, ttl: int = SOA_TTL, minimum: int = SOA_MINIMUM) -> RecordSet:
    text = f"ns1.labs.internal. hostmaster.labs.internal. {serial} 3600 600 86400 {minimum}"
    return RecordSet(zone, "SOA", ttl, (text,))


def make_zone(name: str, serial: int, *recordsets: RecordSet) -> Zone:
    ns = RecordSet(name, "NS", 3600, ("ns1.labs.internal.", "ns2.labs.internal."))
    return Zone(name, serial, (soa(name, serial), ns, *recordsets))


def bots_zone(serial: int = 1) -> Zone:
    return make_zone(ZONE, serial, *BOTS.values())


def in_bots(label: str) -> str:
    return f"{label}.{ZONE}" if label else ZONE


BOTS = {
    "A": RecordSet(in_bots("web-1"), "A", 300, ("10.68.0.2",)),
    "AAAA": RecordSet(in_bots("web-1"), "AAAA", 300, ("fd00:68::2",)),
    "CNAME": RecordSet(in_bots("www"), "CNAME", 300, (in_bots("web-1"),)),
    "MX": RecordSet(ZONE, "MX", 600, (f"10 {in_bots('mail')}", "20 mx.example.org.")),
    "TXT": RecordSet(ZONE, "TXT", 600, ('"v=spf1 -all"', '"two words" "and more"')),
    "SRV": RecordSet(in_bots("_ssh._tcp.web-1"), "SRV", 300, (f"0 5 22 {in_bots('web-1')}",)),
    "CAA": RecordSet(ZONE, "CAA", 3600, ('0 issue "letsencrypt.org"',)),
    "mail": RecordSet(in_bots("mail"), "A", 300, ("10.68.0.3",)),
    "deep": RecordSet(in_bots("deep.under.ent"), "TXT", 300, ('"deep"',)),
}
PTR = RecordSet(f"2.{REVERSE}", "PTR", 300, (in_bots("web-1"),))
EXPECTED = {
    **{rtype: BOTS[rtype] for rtype in ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA")},
    "PTR": PTR,
    "NS": make_zone(ZONE, 1).recordsets[1],
    "SOA": soa(ZONE, 1),
}


def rdatas(recordset: RecordSet) -> set[dns.rdata.Rdata]:
    rdtype = dns.rdatatype.from_text(recordset.type)
    return {dns.rdata.from_text(dns.rdataclass.IN, rdtype, text) for text in recordset.records}


def answer_of(response: dns.message.Message, name: str, rtype: str) -> set[dns.rdata.Rdata]:
    rdtype = dns.rdatatype.from_text(rtype)
    return {rd for rrset in response.answer if rrset.rdtype == rdtype
            and rrset.name == dns.name.from_text(name) for rd in rrset}


def assert_negative(response: dns.message.Message, rcode: dns.rcode.Rcode, zone: str) -> None:
    assert response.rcode() == rcode, dns.rcode.to_text(response.rcode())
    assert response.flags & dns.flags.AA
    assert response.answer == []
    [authority] = response.authority
    assert authority.rdtype == dns.rdatatype.SOA and authority.name == dns.name.from_text(zone)


# -- the contract: every backend -----------------------------------------------------------


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("rtype", list(EXPECTED))
def test_publish_answers_every_type(served: Served, rtype: str, tcp: bool) -> None:
    served.backend.publish(bots_zone())
    served.backend.publish(make_zone(REVERSE, 1, PTR))
    expected = EXPECTED[rtype]
    response = served.query(expected.name, rtype, tcp)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    assert answer_of(response, expected.name, rtype) == rdatas(expected)
    [rrset] = [r for r in response.answer if r.rdtype == dns.rdatatype.from_text(rtype)]
    assert rrset.ttl == expected.ttl


def test_dig_finds_names_over_udp_and_tcp(served: Served, dig: Dig) -> None:
    served.backend.publish(bots_zone())
    served.backend.publish(make_zone(REVERSE, 1, PTR))
    for transport in ("+notcp", "+tcp"):
        assert dig(served.port, transport, "+short", "A", in_bots("web-1")) == "10.68.0.2\n"
        assert dig(served.port, transport, "+short", "-x", "10.68.0.2") == in_bots("web-1") + "\n"
        cname = dig(served.port, transport, "+short", "A", in_bots("www"))
        assert cname.split() == [in_bots("web-1"), "10.68.0.2"]
    status = dig(served.port, "A", in_bots("nope"))
    assert "status: NXDOMAIN" in status and "flags: qr aa" in status


def test_cname_is_answered_and_followed_inside_the_zone(served: Served) -> None:
    served.backend.publish(bots_zone())
    response = served.query(in_bots("www"), "A")
    assert response.rcode() == dns.rcode.NOERROR
    assert answer_of(response, in_bots("www"), "CNAME") == rdatas(BOTS["CNAME"])
    assert answer_of(response, in_bots("web-1"), "A") == rdatas(BOTS["A"])


def test_nodata_and_nxdomain_carry_the_soa(served: Served) -> None:
    served.backend.publish(bots_zone())
    nodata = served.query(in_bots("web-1"), "TXT")
    assert_negative(nodata, dns.rcode.NOERROR, ZONE)
    assert nodata.authority[0].ttl == min(SOA_TTL, SOA_MINIMUM)
    assert_negative(served.query(in_bots("nope"), "A"), dns.rcode.NXDOMAIN, ZONE)
    assert_negative(served.query(in_bots("x.web-1"), "A"), dns.rcode.NXDOMAIN, ZONE)
    # names with nothing of their own but names below them exist: NODATA, not NXDOMAIN
    for empty in ("ent", "under.ent"):
        assert_negative(served.query(in_bots(empty), "A"), dns.rcode.NOERROR, ZONE)


def test_negative_ttl_is_the_soa_ttl_when_lower_than_the_minimum(served: Served) -> None:
    zone = bots_zone()
    served.backend.publish(Zone(ZONE, 1, (soa(ZONE, 1, ttl=60, minimum=900),
                                          *zone.recordsets[1:])))
    response = served.query(in_bots("nope"), "A", tcp=True)
    assert_negative(response, dns.rcode.NXDOMAIN, ZONE)
    assert response.authority[0].ttl == 60


def test_republish_replaces_the_whole_zone(served: Served) -> None:
    served.backend.publish(bots_zone(1))
    served.backend.publish(bots_zone(1))  # the same zone again: fine
    web_2 = RecordSet(in_bots("web-2"), "A", 300, ("10.68.0.4",))
    served.backend.publish(make_zone(ZONE, 2, web_2))
    assert served.backend.serial(ZONE) == 2
    assert_negative(served.query(in_bots("web-1"), "A"), dns.rcode.NXDOMAIN, ZONE)
    assert answer_of(served.query(in_bots("web-2"), "A"), web_2.name, "A") == rdatas(web_2)
    [soa_rdata] = answer_of(served.query(ZONE, "SOA"), ZONE, "SOA")
    assert soa_rdata.serial == 2  # type: ignore[attr-defined]


def test_zone_names_serial_and_remove(served: Served) -> None:
    assert served.backend.zone_names() == []
    assert served.backend.serial(ZONE) is None
    served.backend.publish(bots_zone(7))
    served.backend.publish(make_zone(REVERSE, 3, PTR))
    assert sorted(served.backend.zone_names()) == sorted([ZONE, REVERSE])
    assert (served.backend.serial(ZONE), served.backend.serial(REVERSE)) == (7, 3)
    served.backend.remove(ZONE)
    served.backend.remove(ZONE)  # twice: fine
    served.backend.remove("never.labs.internal.")
    assert served.backend.zone_names() == [REVERSE]
    assert served.backend.serial(ZONE) is None
    for tcp in (False, True):
        assert served.query(in_bots("web-1"), "A", tcp).rcode() == dns.rcode.REFUSED
    assert served.query(PTR.name, "PTR").rcode() == dns.rcode.NOERROR


BAD_ZONES = {
    "no SOA": lambda: Zone(ZONE, 2, bots_zone(2).recordsets[1:]),
    "two SOA records": lambda: Zone(ZONE, 2, (
        RecordSet(ZONE, "SOA", 3600, (*soa(ZONE, 2).records, *soa(ZONE, 3).records)),
        *bots_zone(2).recordsets[1:])),
    "an SOA below the apex": lambda: make_zone(
        ZONE, 2, RecordSet(in_bots("web-1"), "SOA", 3600, soa(ZONE, 2).records)),
    "a name outside the zone": lambda: make_zone(
        ZONE, 2, RecordSet("web-1.other.internal.", "A", 300, ("10.68.0.9",))),
    "an A that is no address": lambda: make_zone(
        ZONE, 2, RecordSet(in_bots("web-1"), "A", 300, ("10.68.0.999",))),
    "an AAAA given IPv4": lambda: make_zone(
        ZONE, 2, RecordSet(in_bots("web-1"), "AAAA", 300, ("10.68.0.2",))),
    "an MX without preference": lambda: make_zone(
        ZONE, 2, RecordSet(ZONE, "MX", 300, ("mail.bots.labs.internal.",))),
    "an SRV short of fields": lambda: make_zone(
        ZONE, 2, RecordSet(in_bots("_ssh._tcp"), "SRV", 300, ("0 5 web-1.bots.labs.internal.",))),
}


@pytest.mark.parametrize("bad", list(BAD_ZONES))
def test_bad_zone_raises_and_leaves_the_old_content(served: Served, bad: str) -> None:
    served.backend.publish(bots_zone(1))
    with pytest.raises(BackendError):
        served.backend.publish(BAD_ZONES[bad]())
    assert served.backend.serial(ZONE) == 1
    assert answer_of(served.query(in_bots("web-1"), "A"), in_bots("web-1"), "A") == rdatas(
        BOTS["A"])
    [soa_rdata] = answer_of(served.query(ZONE, "SOA", tcp=True), ZONE, "SOA")
    assert soa_rdata.serial == 1  # type: ignore[attr-defined]


def test_bad_new_zone_is_not_served(served: Served) -> None:
    with pytest.raises(BackendError):
        served.backend.publish(BAD_ZONES["no SOA"]())
    assert served.backend.zone_names() == []
    assert served.query(in_bots("web-1"), "A").rcode() == dns.rcode.REFUSED


def test_axfr_returns_the_whole_zone(served: Served, dig: Dig) -> None:
    published = bots_zone(4)
    served.backend.publish(published)
    expected = {(rs.name, rs.type, rd) for rs in published.recordsets for rd in rdatas(rs)}
    zone = dns.zone.from_xfr(dns.query.xfr(
        served.address, ZONE, port=served.port, lifetime=QUERY_TIMEOUT * 2, relativize=False),
        relativize=False)
    got = {(name.to_text(), rdataset.rdtype.name, rd)
           for name, rdataset in zone.iterate_rdatasets() for rd in rdataset}
    assert got == expected
    lines = [line.split(None, 4) for line in dig(served.port, "AXFR", ZONE).splitlines()
             if line and not line.startswith(";")]
    assert lines[0][3] == lines[-1][3] == "SOA"
    assert len(lines) == len(expected) + 1  # the SOA comes first and last


def _publish_while_querying(served: Served, version: Callable[[int], Zone],
                            check: Callable[[dns.message.Message], tuple[int, str | None]]
                            ) -> None:
    """Publish new versions for 1.5 s while querying; `check` returns the version an
    answer came from and what is wrong with it (None: nothing)."""
    served.backend.publish(version(1))
    done = threading.Event()
    seen: set[int] = set()
    failures: list[str] = []

    def publish() -> None:
        deadline = time.monotonic() + 1.5
        try:
            for serial in range(2, 400):
                if time.monotonic() > deadline:
                    break
                served.backend.publish(version(serial))
        finally:
            done.set()

    publisher = threading.Thread(target=publish)
    publisher.start()
    for count in range(3000):
        if done.is_set() and count > 20:
            break
        serial, problem = check(served.query(in_bots("www"), "A", tcp=count % 4 == 0))
        if problem is not None:
            failures.append(problem)
        seen.add(serial)
    publisher.join(timeout=10)
    assert not failures, failures[:5]
    assert len(seen) > 1, "the queries never saw a publish happen"


def test_concurrent_publish_never_shows_a_mix(served: Served) -> None:
    """Each version gives www two addresses of its own: an answer mixing two versions
    would hold addresses of both."""

    def version(serial: int) -> Zone:
        base = f"10.{serial // 250}.{serial % 250}"
        return make_zone(ZONE, serial, RecordSet(in_bots("www"), "A", 300,
                                                 (f"{base}.1", f"{base}.2")))

    def check(response: dns.message.Message) -> tuple[int, str | None]:
        addresses = sorted(answer_of(response, in_bots("www"), "A"), key=str)
        parts = {tuple(str(a).split(".")[1:3]) for a in addresses}
        if len(addresses) != 2 or len(parts) != 1:
            return 0, f"www answered {addresses}"
        major, minor = (int(x) for x in next(iter(parts)))
        return major * 250 + minor, None

    _publish_while_querying(served, version, check)


def test_publish_from_many_threads(served: Served) -> None:
    names = [f"p{index}.labs.internal." for index in range(8)]
    threads = [threading.Thread(target=served.backend.publish, args=(make_zone(name, 1),))
               for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(served.backend.zone_names()) == sorted(names)
    for name in names:
        assert served.query(name, "SOA").rcode() == dns.rcode.NOERROR


# -- the embedded backend only -------------------------------------------------------------

def test_embedded_answers_a_cname_chain_from_one_version(tmp_path: Path) -> None:
    """The embedded server follows a CNAME inside the snapshot it answers from, so a
    CNAME and its target always come from one version (PowerDNS looks them up one after
    the other and may answer across a publish)."""
    with CASES["embedded"](tmp_path) as served:

        def version(serial: int) -> Zone:
            host = in_bots(f"host-{serial}")
            address = f"10.68.{serial // 250}.{serial % 250 + 1}"
            return make_zone(ZONE, serial, RecordSet(in_bots("www"), "CNAME", 300, (host,)),
                             RecordSet(host, "A", 300, (address,)))

        def check(response: dns.message.Message) -> tuple[int, str | None]:
            [cname] = answer_of(response, in_bots("www"), "CNAME")
            serial = int(cname.target.labels[0].decode().removeprefix("host-"))  # type: ignore[attr-defined]
            host_a = answer_of(response, cname.target.to_text(), "A")  # type: ignore[attr-defined]
            if host_a != rdatas(version(serial).recordsets[-1]):
                return serial, f"www -> host-{serial} answered with {host_a}"
            return serial, None

        _publish_while_querying(served, version, check)



@pytest.fixture
def embedded() -> Iterator[EmbeddedBackend]:
    backend = EmbeddedBackend()
    yield backend
    backend.close()


EMBEDDED_REFUSES = {
    "a CNAME with other data": RecordSet(in_bots("web-1"), "CNAME", 300, (in_bots("mail"),)),
    "a relative name in data": RecordSet(ZONE, "MX", 300, ("10 mail",)),
    "an upper-case name": RecordSet("Web-9.bots.labs.internal.", "A", 300, ("10.68.0.9",)),
    "a type Labs does not serve": RecordSet(ZONE, "HINFO", 300, ('"x86" "linux"',)),
    "an empty recordset": RecordSet(in_bots("web-9"), "A", 300, ()),
    "a recordset given twice": RecordSet(in_bots("web-1"), "A", 300, ("10.68.0.8",)),
}


@pytest.mark.parametrize("bad", list(EMBEDDED_REFUSES))
def test_embedded_refuses(embedded: EmbeddedBackend, bad: str) -> None:
    with pytest.raises(BackendError, match=r"zone bots\.labs\.internal\.|names are absolute"):
        embedded.publish(make_zone(ZONE, 1, BOTS["A"], EMBEDDED_REFUSES[bad]))
    assert embedded.zone_names() == []


def test_embedded_wants_the_soa_serial_to_be_the_zones(embedded: EmbeddedBackend) -> None:
    zone = bots_zone(5)
    with pytest.raises(BackendError, match="SOA serial 5 is not the zone's serial 6"):
        embedded.publish(Zone(ZONE, 6, zone.recordsets))


def test_embedded_port_in_use_is_a_backend_error(embedded: EmbeddedBackend) -> None:
    with pytest.raises(BackendError, match=f"port {embedded.port}"):
        EmbeddedBackend("127.0.0.1", embedded.port)
    embedded.close()
    embedded.close()  # twice: fine
