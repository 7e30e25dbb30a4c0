"""The relays of a live migration's streams (agent.relays), with real sockets: unix
servers standing for the destination's qemu, clients for the source's."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.compute.agent import relays
from labs.compute.agent.relays import DISK, MIGRATION, Inbound, Outbound
from tests.common.bus_helpers import wait_for


class UnixServer:
    """A unix socket that answers each connection with what it read, upper-cased, and
    ends its writing half when the other end ends its own."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)  # as qemu in its directory
        try:
            self.sock.bind(f"/proc/self/fd/{fd}/{path.name}")
        finally:
            os.close(fd)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.path, self.served, self.stop = path, 0, False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.served += 1
            with conn, contextlib.suppress(OSError):  # cut by the relay: fine
                conn.settimeout(10)
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
                conn.sendall(data.upper())

    def close(self) -> None:
        self.stop = True
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[bytes, UnixServer]]:
    # deeper than a unix socket address may be: the relay connects through the directory
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    made = {MIGRATION: UnixServer(deep / "migrate.sock"), DISK: UnixServer(deep / "nbd.sock")}
    yield made
    for server in made.values():
        server.close()


def exchange(path: str, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
        return got


def test_each_stream_reaches_its_socket_both_ways(servers: dict[bytes, UnixServer]) -> None:
    routes = {stream: str(server.path) for stream, server in servers.items()}
    with Inbound("127.0.0.1", routes, lifetime=30) as inbound:
        assert isinstance(inbound, Inbound)
        with Outbound(inbound.address, [MIGRATION, DISK], lifetime=30) as outbound:
            assert isinstance(outbound, Outbound)
            assert len(outbound.paths[DISK]) < 100  # short enough for qemu
            big = bytes(range(256)) * 4096  # 1 MiB, more than one chunk
            assert exchange(outbound.paths[MIGRATION], b"memory") == b"MEMORY"
            assert exchange(outbound.paths[DISK], big) == big.upper()
            directory = outbound.directory
            assert directory.stat().st_mode & 0o777 == 0o700
        assert not directory.exists()  # closed with the move
    assert servers[MIGRATION].served == 1 and servers[DISK].served == 1


def read_all(sock: socket.socket) -> bytes:
    got = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            got += chunk
    return got


def test_a_stranger_gets_nothing_and_the_move_goes_on(servers: dict[bytes, UnixServer],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relays, "CONNECT_TIMEOUT", 1.0)
    routes = {stream: str(server.path) for stream, server in servers.items()}
    with Inbound("127.0.0.1", routes, lifetime=30) as inbound:
        assert isinstance(inbound, Inbound)
        silent = socket.create_connection(inbound.address, timeout=10)  # says nothing
        wrong = socket.create_connection(inbound.address, timeout=10)
        wrong.sendall(b"GET / HTTP/1.0\r\n\r\n")  # names no stream of the move
        assert read_all(wrong) == b"" and read_all(silent) == b""  # cut, after a second
        silent.close()
        wrong.close()
        with Outbound(inbound.address, [MIGRATION], lifetime=30) as outbound:
            assert isinstance(outbound, Outbound)
            assert exchange(outbound.paths[MIGRATION], b"still") == b"STILL"
    assert servers[MIGRATION].served == 1 and servers[DISK].served == 0


def test_connections_are_bounded_in_count(servers: dict[bytes, UnixServer]) -> None:
    routes = {MIGRATION: str(servers[MIGRATION].path)}
    with Inbound("127.0.0.1", routes, lifetime=30, max_connections=2) as inbound:
        assert isinstance(inbound, Inbound)
        for _ in range(2):
            with socket.create_connection(inbound.address, timeout=10) as sock:
                sock.sendall(b"Mx")
                sock.shutdown(socket.SHUT_WR)
                assert read_all(sock) == b"X"
        with socket.create_connection(inbound.address, timeout=10) as third:
            with contextlib.suppress(OSError):  # cut at once, maybe before this
                third.sendall(b"My")
                third.shutdown(socket.SHUT_WR)
            assert read_all(third) == b""  # refused: the move's two are taken
    assert servers[MIGRATION].served == 2


def test_a_relay_closes_itself_after_its_lifetime(servers: dict[bytes, UnixServer]) -> None:
    routes = {MIGRATION: str(servers[MIGRATION].path)}
    inbound = Inbound("127.0.0.1", routes, lifetime=1.0)
    held = socket.create_connection(inbound.address, timeout=10)
    held.sendall(b"Mhalf")  # a stream that never ends
    started = time.monotonic()
    assert read_all(held) == b""  # cut when the relay's time is up
    assert time.monotonic() - started < 10 and inbound.closed
    held.close()

    def refused() -> bool:
        try:
            socket.create_connection(inbound.address, timeout=2).close()
        except OSError:
            return True
        return False
    wait_for(refused, 5, "the relay's port closed")


def test_an_unreachable_destination_ends_the_source_connection(tmp_path: Path) -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]  # nobody listens there
    with Outbound(("127.0.0.1", port), [MIGRATION], lifetime=30) as outbound:
        assert isinstance(outbound, Outbound)
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):  # cut: ended too
            assert exchange(outbound.paths[MIGRATION], b"lost") == b""


def test_with_the_move_s_key_a_stranger_never_reaches_qemu(
        servers: dict[bytes, UnixServer], monkeypatch: pytest.MonkeyPatch) -> None:
    """qemu's incoming migration takes one connection: a stranger's naming the stream
    would end the move. With the key, only a connection that proves it knows it is piped,
    and strangers take none of the move's connections."""
    monkeypatch.setattr(relays, "CONNECT_TIMEOUT", 1.0)
    key = "ab" * 16
    routes = {stream: str(server.path) for stream, server in servers.items()}
    with Inbound("127.0.0.1", routes, lifetime=30, max_connections=2, key=key) as inbound:
        assert isinstance(inbound, Inbound)
        for attempt in (b"M", b"M" + b"\0" * relays.TICKET_SIZE,
                        b"D" + relays.ticket("cd" * 16, DISK),
                        b"D" + relays.ticket(key, MIGRATION)):
            with socket.create_connection(inbound.address, timeout=10) as sock:
                with contextlib.suppress(OSError):
                    sock.sendall(attempt + b"payload")
                    sock.shutdown(socket.SHUT_WR)
                assert read_all(sock) == b""
        assert servers[MIGRATION].served == 0 and servers[DISK].served == 0
        with Outbound(inbound.address, [MIGRATION, DISK], lifetime=30, key=key) as outbound:
            assert isinstance(outbound, Outbound)
            assert exchange(outbound.paths[MIGRATION], b"memory") == b"MEMORY"
            assert exchange(outbound.paths[DISK], b"disk") == b"DISK"
    assert servers[MIGRATION].served == 1 and servers[DISK].served == 1
