"""The DNS relay: how the networks' dnsmasq reach the cloud's authoritative server.

A network's namespace has no route to the host, where the authoritative server (Labs'
embedded server or PowerDNS) answers. So the agent listens inside each namespace, on
127.0.0.1 port 53 over UDP and TCP, and the network's dnsmasq sends there every query it
cannot answer from its own leases (``server=127.0.0.1``).

Only names in the cloud's own domains (`cloud_domains`: the cloud's domain, its reverse
zones, the domains the operator gave projects) go to the authoritative server, from the
host's namespace; every other name goes to the forwarders (resolvers the host can
reach) in turn, or gets REFUSED without them. The list is the operator's configuration,
not learned from the server: whatever zone someone manages to create for a public name
(``pypi.org.``), VMs keep resolving that name as the world does. An answer goes back as
it came; when the cloud's server does not answer within `timeout`, the relay answers
SERVFAIL. A query whose question cannot be read (not one question, or a compressed
name) gets FORMERR and goes nowhere.

Answers are accepted only from the address asked, under the id sent and with the
question asked. Queries to the cloud's server (on the host) share one UDP socket; each
query to a forwarder, across the network where answers can be forged, goes from a
socket of its own on a port the kernel picks at random, so a forger must guess port
and id.

All listeners share one asyncio loop (uvloop: four times the queries of the standard
loop) in a thread of its own, and all queries to one server share one UDP socket, each
under an id of its own. At most `max_queries` UDP queries are under way at once, and
beyond that they are dropped (the client asks again); as many TCP queries, and the
others wait their turn. Datagrams too short to be a DNS query, and responses sent to
the relay, are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import cast

import uvloop

from labs.network.agent.dns_relay.upstream import Server, UdpUpstream, ask_fresh_udp, ask_tcp
from labs.network.agent.dns_relay.wire import (
    HEADER,
    REFUSED,
    domain_wire,
    formerr,
    question,
    reply,
    servfail,
)
from labs.network.agent.netns_sockets import NamespaceListenError, listen_in_namespace
from labs.network.specs import InvalidRequest, check_id

log = logging.getLogger("labs.network.agent.dns_relay.relay")

#: Where the relay listens inside every network's namespace (dnsmasq does not listen on
#: the namespace's loopback).
RELAY_ADDRESS = "127.0.0.1"
RELAY_PORT = 53
TCP_IDLE_SECONDS = 10.0
WARN_EVERY_SECONDS = 60.0

#: How the relay asks one server a query (over UDP or TCP); None: no answer in time.
#: The query goes with its question, as `question` reads it (answers must carry it).
Ask = Callable[[Server, bytes, bytes], Awaitable[bytes | None]]


def parse_server(text: str, default_port: int = 53) -> Server:
    """``HOST[:PORT]`` (an IP address; IPv6 in brackets with a port) as (host, port)."""
    text = text.strip()
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise InvalidRequest(f"bad DNS server {text!r}: use HOST or HOST:PORT")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, digits = text.partition(":")
        if not digits.isdigit():
            raise InvalidRequest(f"bad DNS server {text!r}: use HOST or HOST:PORT")
        port = int(digits)
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM,
                           flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        raise InvalidRequest(f"bad DNS server {text!r}: the host must be an IP address") \
            from None
    if not 1 <= port <= 65535:
        raise InvalidRequest(f"bad DNS server {text!r}: the port must be 1-65535")
    return host, port


@dataclass
class _Listeners:
    namespace: str
    udp: asyncio.DatagramTransport
    tcp: asyncio.Server


class DnsRelay:
    """Relays the networks' DNS queries to `upstream` (and refused ones to
    `forwarders`); see the module docstring."""

    def __init__(self, upstream: Server, forwarders: Sequence[Server] = (), *,
                 cloud_domains: Sequence[str], timeout: float = 2.0,
                 max_queries: int = 256) -> None:
        self.upstream = upstream
        self.forwarders = tuple(forwarders)
        #: the cloud's domains, as names are on the wire (lower case)
        self.cloud_domains = frozenset(domain_wire(d) for d in cloud_domains)
        self.timeout = timeout
        self.max_queries = max_queries
        self._busy = 0
        self._networks: dict[str, _Listeners] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._warned = 0.0
        self._upstreams: dict[Server, UdpUpstream] = {}
        self._loop = uvloop.new_event_loop()
        self._slots = asyncio.Semaphore(max_queries)
        self._thread = threading.Thread(target=self._loop.run_forever, name="dns-relay",
                                        daemon=True)
        self._thread.start()

    def add_network(self, network_id: str, namespace: str, address: str = RELAY_ADDRESS,
                    port: int = RELAY_PORT) -> None:
        """Listen for the network's dnsmasq inside `namespace`; repeating it is fine.
        NamespaceListenError (see `listen_in_namespace`) when it cannot."""
        check_id("network", network_id)
        with self._lock:
            if self._closed:
                raise NamespaceListenError("the DNS relay is closed")
            if network_id in self._networks:
                return
            udp = listen_in_namespace(namespace, address, port, udp=True)
            try:
                tcp = listen_in_namespace(namespace, address, port)
            except BaseException:
                udp.close()
                raise
            opened = asyncio.run_coroutine_threadsafe(self._open(namespace, udp, tcp),
                                                      self._loop)
            self._networks[network_id] = opened.result(timeout=10)
        log.info("relaying DNS for network %s from %s:%d in %s to %s:%d", network_id,
                 address, port, namespace, *self.upstream)

    def remove_network(self, network_id: str) -> None:
        """Stop listening for the network; an unknown network is fine."""
        with self._lock:
            listeners = self._networks.pop(network_id, None)
            if listeners is None or self._closed:
                return
            asyncio.run_coroutine_threadsafe(self._shut(listeners), self._loop
                                             ).result(timeout=10)
        log.info("stopped relaying DNS for network %s", network_id)

    def networks(self) -> dict[str, str]:
        """The networks relayed for: network id to namespace."""
        with self._lock:
            return {n: x.namespace for n, x in self._networks.items()}

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            listeners = list(self._networks.values())
            self._networks.clear()

        async def shut_all() -> None:
            for each in listeners:
                await self._shut(each)
            for upstream in self._upstreams.values():
                upstream.close()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut_all(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    # In the loop's thread.

    async def _open(self, namespace: str, udp: socket.socket,
                    tcp: socket.socket) -> _Listeners:
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _UdpListener(self), sock=udp)
        server = await asyncio.start_server(self._serve_tcp, sock=tcp)
        return _Listeners(namespace, transport, server)

    @staticmethod
    async def _shut(listeners: _Listeners) -> None:
        listeners.udp.close()
        listeners.tcp.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listeners.tcp.wait_closed(), 2)

    def take_udp(self, query: bytes, peer: tuple[str, int],
                  transport: asyncio.DatagramTransport) -> None:
        if len(query) < HEADER or query[2] & 0x80 or self._busy >= self.max_queries:
            return
        self._busy += 1
        task = self._loop.create_task(self._answer_udp(query, peer, transport))
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._busy -= 1
        if not task.cancelled() and task.exception() is not None:
            log.error("DNS relay failed on a query", exc_info=task.exception())

    async def _answer_udp(self, query: bytes, peer: tuple[str, int],
                          transport: asyncio.DatagramTransport) -> None:
        answer = await self._resolve(query, self._ask_udp)
        if answer is not None and not transport.is_closing():
            transport.sendto(answer, peer)

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = int.from_bytes(
                    await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_SECONDS), "big")
                query = await asyncio.wait_for(reader.readexactly(size), self.timeout)
                if size < HEADER or query[2] & 0x80:
                    return
                async with self._slots:
                    answer = await self._resolve(query, self._ask_tcp)
                if answer is None:
                    return
                writer.write(len(answer).to_bytes(2, "big") + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, OSError):
            pass
        finally:
            writer.close()

    def in_cloud(self, asked: bytes, starts: tuple[int, ...]) -> bool:
        """Whether the question's name (see `question`) is at or below one of the
        cloud's domains: whether the name from one of its labels on is one."""
        name, domains = asked[:-4], self.cloud_domains
        for start in starts:  # noqa: SIM110 (a loop: twice as fast as any() here)
            if name[start:] in domains:
                return True
        return False

    async def _resolve(self, query: bytes, ask: Ask) -> bytes | None:
        asked = question(query)
        if asked is None:
            return formerr(query)
        if not self.in_cloud(*asked):
            return await self._forward(query, asked[0], ask)
        answer = await ask(self.upstream, query, asked[0])
        if answer is None:
            self._warn(f"the cloud's DNS server at {self.upstream[0]} port "
                       f"{self.upstream[1]} did not answer in {self.timeout:.0f} s; VMs "
                       "get SERVFAIL for names dnsmasq does not know itself")
            return servfail(query)
        return answer

    async def _forward(self, query: bytes, asked: bytes, ask: Ask) -> bytes | None:
        """The first forwarder's answer; REFUSED without forwarders, SERVFAIL when none
        answers."""
        if not self.forwarders:
            return reply(query, REFUSED)
        ask_one = self._ask_forwarder_udp if ask == self._ask_udp else ask
        for forwarder in self.forwarders:
            forwarded = await ask_one(forwarder, query, asked)
            if forwarded is not None:
                return forwarded
            self._warn(f"the DNS forwarder {forwarder[0]} port {forwarder[1]} did not "
                       f"answer in {self.timeout:.0f} s")
        return servfail(query)

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY_SECONDS:
            self._warned = now
            log.warning("%s", message)

    async def _ask_udp(self, server: Server, query: bytes, asked: bytes) -> bytes | None:
        upstream = self._upstreams.get(server)
        if upstream is None:
            upstream = self._upstreams[server] = UdpUpstream(server)
        return await upstream.ask(query, asked, self.timeout)

    async def _ask_forwarder_udp(self, server: Server, query: bytes, asked: bytes
                                 ) -> bytes | None:
        return await ask_fresh_udp(server, query, asked, self.timeout)

    async def _ask_tcp(self, server: Server, query: bytes, asked: bytes) -> bytes | None:
        return await ask_tcp(server, query, asked, self.timeout)


class _UdpListener(asyncio.DatagramProtocol):
    def __init__(self, relay: DnsRelay) -> None:
        self.relay = relay
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None:
            self.relay.take_udp(data, addr, self.transport)
