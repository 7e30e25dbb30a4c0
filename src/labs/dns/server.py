"""The embedded authoritative DNS server: Labs' zones over UDP and TCP, from memory.

The embedded DNS backend owns one `DnsServer`; the all-in-one cloud runs it so that VM
names resolve without an external name server. The server holds a mapping of zone name to
`ZoneSnapshot` and replaces that whole mapping when a zone is published or removed, so
each query, which reads the mapping once, sees a zone's old content or its new content,
never a mix. What the answers say is in `labs.dns.server_answer`.

Threads: one serves the UDP socket and accepts TCP connections (a selector, woken by a
socket pair on stop); each TCP connection gets its own thread, at most MAX_CONNECTIONS
at once and MAX_CONNECTIONS_PER_CLIENT from one address; each message must arrive
whole within the TCP timeout (a client trickling a byte at a time is closed). UDP
answers pass the response-rate limiter (`labs.dns.server_limits`). `start()` returns
once the sockets are bound (port 0 picks a free port, read back from `port`); `stop()`
closes everything and joins.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import struct
import threading
import time
from collections.abc import Mapping
from types import MappingProxyType

import dns.name

from labs.dns.server_answer import respond
from labs.dns.server_limits import RateLimiter, ServerLimits
from labs.dns.server_zone import ZoneSnapshot

log = logging.getLogger("labs.dns.server")

#: Seconds a TCP client may stay silent, mid-message or between queries.
TCP_TIMEOUT = 10.0
MAX_CONNECTIONS = 64
MAX_CONNECTIONS_PER_CLIENT = 8
UDP_BATCH = 64  # queries answered per wake-up of the serving loop
#: Bytes of remembered UDP answers and their keys (emptied when full).
PACKET_CACHE_BYTES = 16 * 1024 * 1024
#: Only ordinary queries are remembered: at most this long, one question, no answer or
#: authority records, at most one additional record (the OPT).
CACHEABLE_QUERY = 512
QUERY_COUNTS = struct.Struct("!HHHH")
#: Shorter TCP frames cannot hold a DNS header; longer ones than a query needs are abuse.
MIN_TCP_QUERY = 12
MAX_TCP_QUERY = 16384
UDP_RECEIVE_SIZE = 65535
BIND_ATTEMPTS = 5
LENGTH = struct.Struct("!H")


class DnsServer:
    """Answers DNS queries for the zones it is given, on one address, over UDP and TCP."""

    def __init__(
        self, address: str = "127.0.0.1", port: int = 0, *, tcp_timeout: float = TCP_TIMEOUT,
        limits: ServerLimits | None = None
    ) -> None:
        self.address = address
        self._wanted_port = port
        self._tcp_timeout = tcp_timeout
        self.limits = limits or ServerLimits()
        self._limiter = RateLimiter(self.limits.rate_limit, self.limits.rate_limit_exempt)
        self._cache_bytes = 0
        self._per_client: dict[str, int] = {}
        self._zones: Mapping[dns.name.Name, ZoneSnapshot] = MappingProxyType({})
        self._write_lock = threading.Lock()  # publishers; readers never take it
        #: UDP answers by query bytes (without the id), for the zones in _cache_zones
        self._cache: dict[bytes, bytes] = {}
        self._cache_zones: Mapping[dns.name.Name, ZoneSnapshot] | None = None
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connection_threads: set[threading.Thread] = set()
        self._connections_lock = threading.Lock()
        self.port = 0

    # -- zones -------------------------------------------------------------------------

    def publish(self, zone: ZoneSnapshot) -> None:
        """Answer for `zone` from now on, replacing what was served under its name."""
        with self._write_lock:
            zones = dict(self._zones)
            zones[zone.origin] = zone
            self._zones = MappingProxyType(zones)

    def remove(self, origin: dns.name.Name) -> None:
        """Stop answering for the zone (its names get REFUSED); unknown zones are fine."""
        with self._write_lock:
            if origin in self._zones:
                zones = dict(self._zones)
                del zones[origin]
                self._zones = MappingProxyType(zones)

    @property
    def zones(self) -> Mapping[dns.name.Name, ZoneSnapshot]:
        """The zones being served, as one consistent read-only snapshot."""
        return self._zones

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> None:
        """Bind the UDP and TCP sockets and serve in the background (OSError if taken)."""
        if self._thread is not None:
            return
        # With port 0, UDP picks the port and TCP may find it taken: try a few more.
        for attempt in range(BIND_ATTEMPTS if self._wanted_port == 0 else 1):
            try:
                udp, tcp = self._bind()
                break
            except OSError:
                if attempt + 1 >= BIND_ATTEMPTS or self._wanted_port != 0:
                    raise
        port = udp.getsockname()[1]
        udp.setblocking(False)
        tcp.setblocking(False)
        self._udp, self._tcp, self.port = udp, tcp, port
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name=f"dns-{port}", daemon=True)
        self._thread.start()
        log.info("DNS server listening on %s port %d (udp, tcp)", self.address, port)

    def _bind(self) -> tuple[socket.socket, socket.socket]:
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            udp.bind((self.address, self._wanted_port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((self.address, udp.getsockname()[1]))  # one port number for both
            tcp.listen(MAX_CONNECTIONS)
        except OSError:
            udp.close()
            tcp.close()
            raise
        return udp, tcp

    def stop(self) -> None:
        """Stop serving: close the sockets and every open connection, join the threads."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        assert self._wake_w is not None
        self._wake_w.send(b"x")
        thread.join()
        with self._connections_lock:
            for conn in self._connections:
                _shutdown(conn)
            workers = list(self._connection_threads)
        for worker in workers:
            worker.join()
        for sock in (self._udp, self._tcp, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._thread = self._udp = self._tcp = self._wake_r = self._wake_w = None
        log.info("DNS server on %s port %d stopped", self.address, self.port)

    # -- serving -----------------------------------------------------------------------

    def _serve(self) -> None:
        assert self._udp is not None and self._tcp is not None and self._wake_r is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._udp, selectors.EVENT_READ)
            selector.register(self._tcp, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._udp:
                        self._serve_udp(self._udp)
                    elif key.fileobj is self._tcp:
                        self._accept(self._tcp)

    def _serve_udp(self, udp: socket.socket) -> None:
        """Answer the queries waiting on the UDP socket (up to UDP_BATCH of them).

        Answers are remembered by query (everything but its 2-byte id) for as long as the
        zones stay the same, as PowerDNS's packet cache does: a repeated query is answered
        with the remembered bytes under its own id, without parsing it. The remembered
        answers belong to one snapshot of the zones, so a publish empties them at once.
        Only ordinary queries are remembered (`_cacheable`), and at most
        PACKET_CACHE_BYTES of them: a flood of odd datagrams cannot fill the memory.
        """
        receive = udp.recvfrom
        for _ in range(UDP_BATCH):
            try:
                wire, peer = receive(UDP_RECEIVE_SIZE)
            except OSError:  # nothing (more), or an ICMP error from an earlier reply
                return
            if self._cache_zones is not self._zones:
                self._cache, self._cache_zones, self._cache_bytes = {}, self._zones, 0
            cached = self._cache.get(wire[2:])
            if cached is not None:
                self._send_udp(udp, wire, wire[:2] + cached, peer)
                continue
            replies = self._answer(wire, tcp=False, client=f"{peer[0]}:{peer[1]}")
            if len(replies) == 1 and _cacheable(wire):
                size = 2 * len(wire) + len(replies[0])
                if self._cache_bytes + size > PACKET_CACHE_BYTES:
                    self._cache, self._cache_bytes = {}, 0
                self._cache[wire[2:]] = replies[0][2:]
                self._cache_bytes += size
            for reply in replies:
                self._send_udp(udp, wire, reply, peer)

    def _send_udp(self, udp: socket.socket, query: bytes, reply: bytes,
                  peer: tuple[str, int]) -> None:
        """Send `reply` unless the rate limiter drops it or slips an empty TC one."""
        verdict = self._limiter.verdict(peer[0], hash(reply[2:]))
        if verdict != "send":
            reply = _truncated(query, reply) if verdict == "slip" else b""
            if not reply:
                return
        try:
            udp.sendto(reply, peer)
        except OSError as exc:
            log.debug("%s: reply not sent (%s)", peer[0], exc)

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, peer = listener.accept()
        except OSError:
            return
        address = peer[0]
        with self._connections_lock:
            mine = self._per_client.get(address, 0)
            if (len(self._connections) >= MAX_CONNECTIONS or self._stopping.is_set()
                    or (mine >= MAX_CONNECTIONS_PER_CLIENT
                        and not self._limiter.exempted(address))):
                log.debug("%s: TCP connection refused (%d open, %d from it)", address,
                          len(self._connections), mine)
                conn.close()
                return
            self._connections.add(conn)
            self._per_client[address] = mine + 1
            worker = threading.Thread(
                target=self._serve_connection, args=(conn, address, f"{peer[0]}:{peer[1]}"),
                name=f"dns-{self.port}-tcp", daemon=True)
            self._connection_threads.add(worker)
        worker.start()

    def _serve_connection(self, conn: socket.socket, address: str, client: str) -> None:
        """Queries one after another on one connection, until EOF, timeout or bad frame.
        Each message (its length and its body) must arrive within the TCP timeout of the
        moment we start waiting for it, however the client spreads its bytes."""
        try:
            conn.setblocking(True)
            while not self._stopping.is_set():
                deadline = time.monotonic() + self._tcp_timeout
                prefix = _read_exactly(conn, LENGTH.size, deadline)
                if prefix is None:
                    return
                (length,) = LENGTH.unpack(prefix)
                if not MIN_TCP_QUERY <= length <= MAX_TCP_QUERY:
                    log.debug("%s: closing on a %d-byte TCP frame", client, length)
                    return
                wire = _read_exactly(conn, length, deadline)
                if wire is None:
                    return
                conn.settimeout(self._tcp_timeout)
                may_transfer = self.limits.may_transfer(address)
                for reply in self._answer(wire, tcp=True, client=client,
                                          may_transfer=may_transfer):
                    conn.sendall(LENGTH.pack(len(reply)) + reply)
        except OSError as exc:  # timeouts included: the connection just ends
            log.debug("%s: TCP connection ended (%s)", client, exc)
        finally:
            _shutdown(conn)
            conn.close()
            with self._connections_lock:
                self._connections.discard(conn)
                self._connection_threads.discard(threading.current_thread())
                left = self._per_client.pop(address, 1) - 1
                if left > 0:
                    self._per_client[address] = left

    def _answer(self, wire: bytes, *, tcp: bool, client: str, may_transfer: bool = False
                ) -> list[bytes]:
        try:
            return respond(wire, self._zones, tcp=tcp, client=client,
                           udp_limit=self.limits.max_udp_size, may_transfer=may_transfer)
        except Exception:  # one bad query must not take the server down
            log.exception("%s: failed to answer a query", client)
            return []


def _cacheable(wire: bytes) -> bool:
    """Whether a query is ordinary enough to remember its answer: short, one question,
    no records but an OPT."""
    if not 12 < len(wire) <= CACHEABLE_QUERY:
        return False
    questions, answers, authority, additional = QUERY_COUNTS.unpack_from(wire, 4)
    return bool(questions == 1 and answers == 0 and authority == 0 and additional <= 1)


def _truncated(query: bytes, reply: bytes) -> bytes:
    """`reply` cut to its header and the query's question, with TC set: what a rate
    limited client gets now and then (it asks again over TCP). Empty if the query's
    question cannot be found."""
    end = 12
    while end < len(query) and query[end] != 0:
        if query[end] & 0xC0:
            return b""
        end += 1 + query[end]
    end += 5
    if end > len(query) or len(reply) < 12:
        return b""
    flags = bytes([reply[2] | 0x02, reply[3]])  # TC
    return reply[:2] + flags + b"\x00\x01" + bytes(6) + query[12:end]


def _read_exactly(conn: socket.socket, size: int, deadline: float) -> bytes | None:
    """`size` bytes from the connection by `deadline` (monotonic), or None if it closes
    first; TimeoutError when the deadline passes."""
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the message did not arrive in time")
        conn.settimeout(left)
        chunk = conn.recv(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _shutdown(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed, or never connected
        conn.shutdown(socket.SHUT_RDWR)
