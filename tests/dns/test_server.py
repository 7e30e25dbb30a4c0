"""The embedded DNS server on its own: hostile packets, truncation, EDNS, CNAME chains,
empty non-terminals, referrals and transfers, with zones written as zone-file text."""

from __future__ import annotations

import random
import socket
import struct
import time
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

from labs.dns.server import DnsServer
from labs.dns.server_limits import ServerLimits
from labs.dns.server_zone import ZoneSnapshot
from tests.dns.conftest import Dig

TIMEOUT = 2.0
ORIGIN = "bots.labs.internal."
BIG_TXT = 40  # TXT records at big.: far over 512 bytes, under 64 KiB
ZONE_TEXT = """
@        3600 IN SOA ns1 hostmaster 9 3600 600 86400 120
@        3600 IN NS  ns1
ns1       300 IN A   10.68.0.1
web-1     300 IN A   10.68.0.2
a         300 IN CNAME b
b         300 IN CNAME c
c         300 IN A   10.68.0.5
loop-1    300 IN CNAME loop-2
loop-2    300 IN CNAME loop-1
dangling  300 IN CNAME missing
away      300 IN CNAME www.example.org.
x.y.z     300 IN A   10.68.0.6
sub       300 IN NS  ns.sub
ns.sub    300 IN A   10.68.1.1
""" + "".join(f'big 300 IN TXT "record {i:02d} {"x" * 40}"\n' for i in range(BIG_TXT))


def snapshot(text: str, origin: str) -> ZoneSnapshot:
    zone = dns.zone.from_text(text, origin, relativize=False, check_origin=False)
    return ZoneSnapshot.build(dns.name.from_text(origin), [
        dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset))
        for name, rdataset in zone.iterate_rdatasets()])


@pytest.fixture
def server() -> Iterator[DnsServer]:
    server = DnsServer("127.0.0.1", 0, tcp_timeout=0.5,
                       limits=ServerLimits.of(allow_transfer=["127.0.0.1"]))
    server.start()
    server.publish(snapshot(ZONE_TEXT, ORIGIN))
    yield server
    server.stop()


def ask(server: DnsServer, name: str, rtype: str = "A", *, tcp: bool = False,
        **make: object) -> dns.message.Message:
    query = dns.message.make_query(name + "." + ORIGIN, rtype, **make)  # type: ignore[arg-type]
    if tcp:
        return dns.query.tcp(query, "127.0.0.1", port=server.port, timeout=TIMEOUT)
    return dns.query.udp(query, "127.0.0.1", port=server.port, timeout=TIMEOUT)


def assert_serving(server: DnsServer) -> None:
    for tcp in (False, True):
        response = ask(server, "web-1", tcp=tcp)
        assert [rd.to_text() for rd in response.answer[0]] == ["10.68.0.2"]


def udp_exchange(server: DnsServer, payload: bytes, wait: float = TIMEOUT) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(wait)
        sock.sendto(payload, ("127.0.0.1", server.port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def names(response: dns.message.Message) -> list[tuple[str, str]]:
    return [(r.name.to_text(), r.rdtype.name) for r in response.answer]


# -- hostile input -------------------------------------------------------------------------


def test_random_bytes_do_not_stop_the_server(server: DnsServer) -> None:
    rng = random.Random(1034)
    for _ in range(60):
        udp_exchange(server, rng.randbytes(rng.randrange(1, 600)), wait=0.05)
    assert_serving(server)


def test_short_header_is_dropped(server: DnsServer) -> None:
    assert udp_exchange(server, b"\x12\x34\x01\x00\x00", wait=0.3) is None
    assert_serving(server)


def test_garbage_question_gets_formerr(server: DnsServer) -> None:
    header = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0)
    reply = udp_exchange(server, header + b"\x3fnot-a-real-label-length" + b"\xff" * 7)
    assert reply is not None
    ident, flags = struct.unpack("!HH", reply[:4])
    assert ident == 0xBEEF and flags & dns.flags.QR
    assert flags & 0xF == dns.rcode.FORMERR
    assert_serving(server)


def test_a_response_is_never_answered(server: DnsServer) -> None:
    query = dns.message.make_query("web-1." + ORIGIN, "A")
    query.flags |= dns.flags.QR
    assert udp_exchange(server, query.to_wire(), wait=0.3) is None


def test_huge_tcp_length_prefix_closes_the_connection(server: DnsServer) -> None:
    for prefix in (b"\xff\xff", b"\x00\x03abc"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as conn:
            conn.sendall(prefix)
            assert conn.recv(10) == b""
    assert_serving(server)


def test_half_open_tcp_connection_times_out(server: DnsServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as conn:
        conn.sendall(b"\x00\x20\x12")  # a 32-byte query of which one byte ever comes
        assert_serving(server)
        started = time.monotonic()
        assert conn.recv(10) == b""  # closed by the server's 0.5 s timeout
        assert time.monotonic() - started < TIMEOUT


def test_unknown_opcode_and_class_and_edns_version(server: DnsServer) -> None:
    notify = dns.message.make_query("web-1." + ORIGIN, "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    reply = dns.query.udp(notify, "127.0.0.1", port=server.port, timeout=TIMEOUT)
    assert reply.rcode() == dns.rcode.NOTIMP
    chaos = dns.message.make_query("web-1." + ORIGIN, "A", rdclass="CH")
    reply = dns.query.udp(chaos, "127.0.0.1", port=server.port, timeout=TIMEOUT)
    assert reply.rcode() == dns.rcode.REFUSED
    assert ask(server, "web-1", use_edns=1).rcode() == dns.rcode.BADVERS


# -- size and EDNS -------------------------------------------------------------------------


def test_large_udp_answer_is_truncated_and_complete_over_tcp(server: DnsServer) -> None:
    truncated = ask(server, "big", "TXT")
    assert truncated.flags & dns.flags.TC and truncated.answer == []
    full = ask(server, "big", "TXT", tcp=True)
    assert not full.flags & dns.flags.TC and len(full.answer[0]) == BIG_TXT
    small_edns = ask(server, "big", "TXT", use_edns=0, payload=1232)
    assert small_edns.flags & dns.flags.TC
    # the client may offer more, but the server sends no more than its own size
    large_edns = ask(server, "big", "TXT", use_edns=0, payload=4096)
    assert large_edns.flags & dns.flags.TC and large_edns.answer == []
    roomy = DnsServer("127.0.0.1", 0, limits=ServerLimits.of(max_udp_size=4096))
    roomy.start()
    try:
        roomy.publish(snapshot(ZONE_TEXT, ORIGIN))
        large_edns = ask(roomy, "big", "TXT", use_edns=0, payload=4096)
        assert not large_edns.flags & dns.flags.TC and len(large_edns.answer[0]) == BIG_TXT
    finally:
        roomy.stop()


def test_edns_is_echoed_only_when_asked(server: DnsServer, dig: Dig) -> None:
    with_edns = ask(server, "web-1", use_edns=0, payload=4096)
    assert with_edns.edns == 0 and with_edns.payload == 1232
    assert ask(server, "web-1").edns == -1
    assert "EDNS: version: 0" in dig(server.port, "A", "web-1." + ORIGIN)
    assert "EDNS" not in dig(server.port, "+noedns", "A", "web-1." + ORIGIN)


# -- answers -------------------------------------------------------------------------------


def test_cname_chain_is_followed_to_the_end(server: DnsServer) -> None:
    response = ask(server, "a")
    assert names(response) == [(f"{n}.{ORIGIN}", t) for n, t in
                               (("a", "CNAME"), ("b", "CNAME"), ("c", "A"))]
    assert response.flags & dns.flags.AA
    assert [r.name.to_text() for r in ask(server, "a", "CNAME").answer] == ["a." + ORIGIN]


def test_cname_chain_ends_at_loops_missing_names_and_other_zones(server: DnsServer) -> None:
    loop = ask(server, "loop-1")
    assert loop.rcode() == dns.rcode.NOERROR
    assert names(loop) == [("loop-1." + ORIGIN, "CNAME"), ("loop-2." + ORIGIN, "CNAME")]
    dangling = ask(server, "dangling")
    assert dangling.rcode() == dns.rcode.NXDOMAIN and names(dangling) == [
        ("dangling." + ORIGIN, "CNAME")]
    assert dangling.authority[0].rdtype == dns.rdatatype.SOA
    away = ask(server, "away")
    assert away.rcode() == dns.rcode.NOERROR and names(away) == [("away." + ORIGIN, "CNAME")]


def test_empty_non_terminals_are_nodata(server: DnsServer, dig: Dig) -> None:
    for empty in ("z", "y.z"):
        response = ask(server, empty)
        assert response.rcode() == dns.rcode.NOERROR and response.answer == []
        assert response.authority[0].ttl == 120  # min(3600, minimum 120)
    assert ask(server, "q.y.z").rcode() == dns.rcode.NXDOMAIN
    assert "status: NOERROR" in dig(server.port, "A", "y.z." + ORIGIN)


def test_delegated_subzone_gets_a_referral_with_glue(server: DnsServer) -> None:
    response = ask(server, "host.sub")
    assert response.rcode() == dns.rcode.NOERROR and not response.flags & dns.flags.AA
    assert [(r.name.to_text(), r.rdtype.name) for r in response.authority] == [
        ("sub." + ORIGIN, "NS")]
    assert [r.name.to_text() for r in response.additional] == ["ns.sub." + ORIGIN]


def test_any_answers_every_rrset_of_the_name(server: DnsServer) -> None:
    query = dns.message.make_query(ORIGIN, "ANY")
    reply = dns.query.tcp(query, "127.0.0.1", port=server.port, timeout=TIMEOUT)
    assert {r.rdtype.name for r in reply.answer} == {"SOA", "NS"}


def test_deepest_zone_answers_and_mixed_case_is_fine(server: DnsServer) -> None:
    server.publish(snapshot("@ 60 IN SOA ns1 h 1 60 60 60 60\nweb-1 60 IN A 10.99.0.1\n",
                            "sub." + ORIGIN))
    response = ask(server, "WEB-1.Sub")
    assert response.flags & dns.flags.AA
    assert [rd.to_text() for rd in response.answer[0]] == ["10.99.0.1"]
    server.remove(dns.name.from_text("sub." + ORIGIN))
    assert not ask(server, "web-1.sub").flags & dns.flags.AA


def test_transfers_are_tcp_only_and_from_the_apex(server: DnsServer) -> None:
    axfr = dns.message.make_query(ORIGIN, "AXFR")
    reply = dns.query.udp(axfr, "127.0.0.1", port=server.port, timeout=TIMEOUT)
    assert reply.rcode() == dns.rcode.REFUSED
    below = dns.message.make_query("web-1." + ORIGIN, "AXFR")
    reply = dns.query.tcp(below, "127.0.0.1", port=server.port, timeout=TIMEOUT)
    assert reply.rcode() == dns.rcode.NOTAUTH
    ixfr = list(dns.query.xfr("127.0.0.1", ORIGIN, port=server.port, lifetime=TIMEOUT * 2,
                              rdtype=dns.rdatatype.IXFR, serial=1))
    records = [r for message in ixfr for r in message.answer]
    assert records[0].rdtype == records[-1].rdtype == dns.rdatatype.SOA


def test_large_zone_transfer_spans_messages(server: DnsServer) -> None:
    hosts = "".join(f"host-{i:04d}-{'p' * 40} 300 IN A 10.70.{i // 250}.{i % 250}\n"
                    for i in range(3000))
    server.publish(snapshot("@ 60 IN SOA ns1 h 5 60 60 60 60\n" + hosts, "big.labs.internal."))
    messages = list(dns.query.xfr("127.0.0.1", "big.labs.internal.", port=server.port,
                                  lifetime=TIMEOUT * 3))
    assert len(messages) > 1
    assert sum(len(r) for m in messages for r in m.answer) == 3000 + 2


def test_stop_closes_the_port_and_start_again_is_fine(server: DnsServer) -> None:
    port = server.port
    server.start()  # already running: nothing happens
    assert server.port == port
    server.stop()
    server.stop()
    assert udp_exchange(server, dns.message.make_query(ORIGIN, "SOA").to_wire(), 0.2) is None
    server.start()
    assert_serving(server)
