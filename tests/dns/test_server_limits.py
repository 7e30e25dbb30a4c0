"""The embedded server is no weapon: UDP answers no larger than its own size, transfers
only to its secondaries, response-rate limiting, a packet cache bounded in bytes, and
TCP clients that cannot hold slots by trickling bytes or opening many connections."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from labs.dns import server as server_module
from labs.dns.server import MAX_CONNECTIONS_PER_CLIENT, DnsServer
from labs.dns.server_limits import RateLimiter, ServerLimits
from tests.dns.conftest import Dig
from tests.dns.test_server import BIG_TXT, ORIGIN, ZONE_TEXT, snapshot

TIMEOUT = 3.0


def serve(limits: ServerLimits, tcp_timeout: float = 10.0) -> DnsServer:
    server = DnsServer("127.0.0.1", 0, tcp_timeout=tcp_timeout, limits=limits)
    server.start()
    server.publish(snapshot(ZONE_TEXT, ORIGIN))
    return server


@pytest.fixture
def plain() -> Iterator[DnsServer]:
    """A server as `labs up` makes one: no secondaries, loopback exempt from limits."""
    server = serve(ServerLimits.of())
    yield server
    server.stop()


def test_a_small_query_never_draws_a_large_udp_answer(plain: DnsServer, dig: Dig) -> None:
    out = dig(plain.port, "+bufsize=65535", "+ignore", f"big.{ORIGIN}", "TXT")
    assert re.search(r"flags: qr aa tc\b|flags:[^;]*\btc\b", out), out
    size = int(re.search(r"MSG SIZE\s+rcvd: (\d+)", out).group(1))  # type: ignore[union-attr]
    assert size <= 1232, out
    full = dig(plain.port, "+tcp", f"big.{ORIGIN}", "TXT")
    assert full.count("\"record ") == BIG_TXT, full


def test_transfers_go_only_to_secondaries(dig: Dig) -> None:
    for allowed, works in (([], False), (["192.0.2.0/24"], False), (["127.0.0.0/8"], True),
                           (["127.0.0.1"], True)):
        server = serve(ServerLimits.of(allow_transfer=allowed))
        try:
            out = dig(server.port, ORIGIN, "AXFR")
            if works:
                assert out.count("IN\tSOA") == 2, (allowed, out)
            else:
                assert "IN\tSOA" not in out and "failed" in out, (allowed, out)
                reply = dns.query.tcp(dns.message.make_query(ORIGIN, "AXFR"), "127.0.0.1",
                                      port=server.port, timeout=TIMEOUT)
                assert reply.rcode() == dns.rcode.REFUSED and reply.answer == []
        finally:
            server.stop()


def test_bad_secondaries_are_configuration_errors() -> None:
    with pytest.raises(ValueError, match="allow_transfer"):
        ServerLimits.of(allow_transfer=["not-an-address"])


def test_responses_are_rate_limited_with_slips() -> None:
    server = serve(ServerLimits.of(rate_limit=5, rate_limit_exempt=[]))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            query = dns.message.make_query(f"web-1.{ORIGIN}", "A")
            for i in range(40):
                query.id = i
                sock.sendto(query.to_wire(), ("127.0.0.1", server.port))
            replies = []
            with pytest.raises(TimeoutError):
                while True:
                    replies.append(dns.message.from_wire(sock.recv(4096)))
        full = [r for r in replies if r.answer]
        slipped = [r for r in replies if r.flags & dns.flags.TC and not r.answer]
        assert 5 <= len(full) <= 7, len(full)
        assert slipped and len(full) + len(slipped) < 40
        assert all(r.question[0].name.to_text() == f"web-1.{ORIGIN}" for r in slipped)
        # over TCP the client still gets its answer
        reply = dns.query.tcp(query, "127.0.0.1", port=server.port, timeout=TIMEOUT)
        assert reply.answer
    finally:
        server.stop()


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(5, max_entries=1000)
    for i in range(5000):
        limiter.verdict(f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", i)
    assert len(limiter) <= 1000


def test_packet_cache_is_bounded_in_bytes_and_takes_ordinary_queries_only(
        plain: DnsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "PACKET_CACHE_BYTES", 20_000)
    padded = dns.message.make_query(f"web-1.{ORIGIN}", "A", use_edns=0,
                                    options=[dns.edns.GenericOption(65001, b"x" * 8000)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendto(padded.to_wire(max_size=65535), ("127.0.0.1", plain.port))
        assert dns.message.from_wire(sock.recv(4096)).answer
    assert plain._cache == {}  # an 8 KB datagram is no key to remember
    for i in range(200):
        dns.query.udp(dns.message.make_query(f"n{i}.{ORIGIN}", "A"), "127.0.0.1",
                      port=plain.port, timeout=TIMEOUT)
        assert plain._cache_bytes <= 20_000
    assert 0 < len(plain._cache) < 200


def test_a_trickling_tcp_client_is_closed_at_the_deadline() -> None:
    server = serve(ServerLimits.of(), tcp_timeout=1.0)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as conn:
            conn.sendall(b"\x00\x40")  # a 64-byte query, sent a byte every 0.2 s
            started = time.monotonic()
            closed = False
            while time.monotonic() - started < 5:
                try:
                    conn.sendall(b"\x00")
                except OSError:
                    closed = True
                    break
                conn.settimeout(0.2)
                try:
                    if conn.recv(10) == b"":
                        closed = True
                        break
                except TimeoutError:
                    pass
            assert closed and time.monotonic() - started < 2.5
    finally:
        server.stop()


def test_one_address_holds_few_tcp_connections() -> None:
    server = serve(ServerLimits.of(rate_limit_exempt=[]))
    conns = []
    try:
        for _ in range(MAX_CONNECTIONS_PER_CLIENT):
            conns.append(socket.create_connection(("127.0.0.1", server.port),
                                                  timeout=TIMEOUT))
        time.sleep(0.2)  # the server has accepted them all
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as extra:
            assert extra.recv(10) == b""  # closed at once
        query = dns.message.make_query(f"web-1.{ORIGIN}", "A")
        assert dns.query.udp(query, "127.0.0.1", port=server.port, timeout=TIMEOUT).answer
    finally:
        for conn in conns:
            conn.close()
        server.stop()


def test_dig_over_tcp_still_works(plain: DnsServer) -> None:
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(plain.port), "+tcp", "+short",
                          f"web-1.{ORIGIN}"], capture_output=True, text=True, timeout=10,
                         check=True).stdout
    assert out.strip()
