"""How the DNS relay asks a server: over a UDP socket shared by every query to that
server (`UdpUpstream`), over a UDP socket of its own (`ask_fresh_udp`, for forwarders
outside the cloud), or over TCP (`ask_tcp`). An answer counts only when it carries the
id it was sent under and the question that was asked; None: no usable answer in time.
"""

from __future__ import annotations

import asyncio
import random
import socket

from labs.network.agent.dns_relay.wire import HEADER, same_question

Server = tuple[str, int]


async def ask_fresh_udp(server: Server, query: bytes, asked: bytes, timeout: float
                    ) -> bytes | None:
    """One query from a socket of its own (a random source port): the answer must
    come from the server, under our fresh id, with our question."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    ident = random.getrandbits(16).to_bytes(2, "big")
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.connect(server)  # the kernel drops datagrams from anyone else
            await loop.sock_sendall(sock, ident + query[2:])
            async with asyncio.timeout(timeout):
                while True:
                    answer = await loop.sock_recv(sock, 65535)
                    if (len(answer) >= HEADER and answer[:2] == ident
                            and answer[2] & 0x80 and same_question(asked, answer)):
                        return query[:2] + answer[2:]
    except (TimeoutError, OSError):
        return None

async def ask_tcp(server: Server, query: bytes, asked: bytes, timeout: float
              ) -> bytes | None:
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(*server)
            writer.write(len(query).to_bytes(2, "big") + query)
            await writer.drain()
            size = int.from_bytes(await reader.readexactly(2), "big")
            answer = await reader.readexactly(size)
            if answer[:2] != query[:2] or not same_question(asked, answer):
                return None
            return answer
    except (TimeoutError, OSError, asyncio.IncompleteReadError):
        return None
    finally:
        if writer is not None:
            writer.close()


class UdpUpstream(asyncio.DatagramProtocol):
    """One UDP socket to one server, shared by every query the relay sends there: each
    query goes out under a fresh id, unique among those waiting, and its answer comes
    back under the client's own id."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None
        #: by the id sent: the question asked (see `question`) and its answer to come
        self.waiting: dict[int, tuple[bytes, asyncio.Future[bytes]]] = {}
        self._opening = asyncio.Lock()

    async def ask(self, query: bytes, asked: bytes, timeout: float) -> bytes | None:
        try:
            transport = await self._open()
        except OSError:
            return None
        if len(self.waiting) >= 0xFFFF:
            return None
        ident = random.getrandbits(16)
        while ident in self.waiting:
            ident = random.getrandbits(16)
        answered: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting[ident] = (asked, answered)
        try:
            transport.sendto(ident.to_bytes(2, "big") + query[2:])
            return query[:2] + (await asyncio.wait_for(answered, timeout))[2:]
        except (TimeoutError, OSError):
            return None
        finally:
            self.waiting.pop(ident, None)

    async def _open(self) -> asyncio.DatagramTransport:
        async with self._opening:
            if self.transport is None or self.transport.is_closing():
                loop = asyncio.get_running_loop()
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: self, remote_addr=self.server)
                self.transport = transport
            return self.transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < HEADER or not data[2] & 0x80:
            return
        waiting = self.waiting.get(int.from_bytes(data[:2], "big"))
        if waiting is not None and not waiting[1].done() and same_question(waiting[0], data):
            waiting[1].set_result(data)

    def error_received(self, exc: Exception) -> None:
        """The server is not there (ICMP port unreachable): every query waiting on it
        fails now rather than at its timeout."""
        for _, answered in self.waiting.values():
            if not answered.done():
                answered.set_exception(exc if isinstance(exc, OSError) else OSError(exc))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
