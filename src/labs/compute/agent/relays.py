"""The relays that carry a live migration's streams from host to host.

qemu listens and connects on unix sockets, which reach across network namespaces where
TCP ports do not (the qemu of a server on a Labs network runs inside that network's
namespace). The agents carry the bytes between the hosts over TCP on their `[agent]
host_ip`: on the destination an `Inbound` relay listens on a TCP port; each connection
names its stream in its first byte (`MIGRATION`: the memory, `DISK`: the NBD export) and
is piped to that stream's unix socket. On the source an `Outbound` relay listens on a
unix socket per stream, in a directory of its own (0700), for the source's qemu; each
connection is piped to the destination's port after its stream's byte.

A relay lives for one move: closed when the move ends or fails, and on its own after
`lifetime` seconds; it takes at most `max_connections` connections. It reads none of what
it carries: qemu speaks TLS end to end, with a key of the move's own (TLS-PSK), so one who
connects to the port without the key gets nothing. With that key (`key`), a connection
also proves it knows it right after its stream's byte (`ticket`): a stranger's never
reaches qemu, whose incoming migration takes one connection only (a stranger's first
would end the move), nor takes one of the move's connections; at most `max_connections`
are waiting to prove it at once.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

log = logging.getLogger("labs.compute.agent.relays")

MIGRATION, DISK = b"M", b"D"
STREAM_NAMES = {MIGRATION: "migrate", DISK: "disk"}
#: How long a new connection may take to name its stream, or to reach its other end.
CONNECT_TIMEOUT = 10.0
MAX_CONNECTIONS = 8
POLL = 0.2
CHUNK = 1 << 16
TICKET_SIZE = 32


def ticket(key: str, stream: bytes) -> bytes:
    """What a connection of `stream` sends after its byte to show it knows the move's key."""
    return hmac.new(key.encode(), b"labs-relay " + stream, hashlib.sha256).digest()

Route = Callable[[socket.socket], "socket.socket | None"]


class Relay:
    """What both relays share: listeners, their accept loops, and the pipes."""

    def __init__(self, lifetime: float, max_connections: int) -> None:
        self.deadline = time.monotonic() + lifetime
        self.max_connections = max_connections
        self.accepted = 0
        self.waiting = 0
        self._lock = threading.Lock()
        self._closed = False
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop listening and cut every connection (a second close does nothing)."""
        with self._lock:
            self._closed, sockets = True, list(self._open)
            self._open.clear()
        for sock in sockets:
            _cut(sock)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2 * POLL)

    def _listen(self, listener: socket.socket, route: Route, name: str) -> None:
        listener.settimeout(POLL)
        self._keep(listener)
        thread = threading.Thread(target=self._accept, args=(listener, route), daemon=True,
                                  name=f"relay-{name}")
        self._threads.append(thread)
        thread.start()

    def _keep(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                _cut(sock)
                return False
            self._open.add(sock)
            return True

    def _accept(self, listener: socket.socket, route: Route) -> None:
        while not self._closed and time.monotonic() < self.deadline:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break  # closed
            with self._lock:
                full = (self.accepted >= self.max_connections
                        or self.waiting >= self.max_connections)
                if not full:
                    self.waiting += 1
            if full:
                log.warning("relay: connection refused, %d taken already",
                            self.max_connections)
                _cut(conn)
                continue
            if self._keep(conn):
                threading.Thread(target=self._serve, args=(conn, route), daemon=True,
                                 name="relay-pipe").start()
        if not self._closed and time.monotonic() >= self.deadline:
            log.warning("relay: closed after its lifetime")
            self.close()

    def _take(self) -> bool:
        """Count a connection that reached its other end: False past `max_connections`."""
        with self._lock:
            if self.accepted >= self.max_connections:
                log.warning("relay: connection refused, %d taken already",
                            self.max_connections)
                return False
            self.accepted += 1
            return True

    def _serve(self, conn: socket.socket, route: Route) -> None:
        other = None
        try:
            conn.settimeout(CONNECT_TIMEOUT)
            try:
                other = route(conn)
            finally:
                with self._lock:
                    self.waiting -= 1
            if other is None or not self._take() or not self._keep(other):
                return
            conn.settimeout(None)
            other.settimeout(None)
            back = threading.Thread(target=_pump, args=(other, conn), daemon=True,
                                    name="relay-pump")
            back.start()
            _pump(conn, other)
            back.join(timeout=max(0.0, self.deadline - time.monotonic()))
        except OSError as exc:
            log.info("relay: a connection ended: %s", exc)
        finally:
            for sock in (conn, other):
                if sock is not None:
                    with self._lock:
                        self._open.discard(sock)
                    _cut(sock)


class Inbound(Relay):
    """The destination's relay: a TCP port on `host`, each connection piped to the unix
    socket its first byte names (`routes`: stream byte -> socket path)."""

    def __init__(self, host: str, routes: dict[bytes, str], lifetime: float,
                 max_connections: int = MAX_CONNECTIONS, key: str = "") -> None:
        super().__init__(lifetime, max_connections)
        self.routes = dict(routes)
        self.key = key
        listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            listener.bind((host, 0))
            listener.listen(max_connections)
        except OSError:
            listener.close()
            raise
        self.address: tuple[str, int] = (host, int(listener.getsockname()[1]))
        self._listen(listener, self._route, "in")

    def _route(self, conn: socket.socket) -> socket.socket | None:
        stream = _read_exactly(conn, 1)
        path = self.routes.get(stream)
        if path is None:
            log.warning("relay: a connection to %s:%d named no stream of this move",
                        *self.address)
            return None
        if self.key and not hmac.compare_digest(_read_exactly(conn, TICKET_SIZE),
                                                ticket(self.key, stream)):
            log.warning("relay: a connection to %s:%d did not know the move's key",
                        *self.address)
            return None
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            unix.settimeout(CONNECT_TIMEOUT)
            connect_unix(unix, Path(path))
        except OSError:
            unix.close()
            raise
        return unix


class Outbound(Relay):
    """The source's relay: a unix socket per stream (`paths`), each connection piped to
    `dest` (the destination's `Inbound`) after the stream's byte."""

    def __init__(self, dest: tuple[str, int], streams: Iterable[bytes], lifetime: float,
                 max_connections: int = MAX_CONNECTIONS, key: str = "") -> None:
        super().__init__(lifetime, max_connections)
        self.dest = dest
        self.key = key
        self.directory = Path(tempfile.mkdtemp(prefix="labs-relay-"))  # 0700
        self.paths: dict[bytes, str] = {}
        try:
            for stream in streams:
                path = self.directory / f"{STREAM_NAMES[stream]}.sock"
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    listener.bind(str(path))
                    listener.listen(max_connections)
                except OSError:
                    listener.close()
                    raise
                self.paths[stream] = str(path)
                self._listen(listener, functools.partial(self._route, stream),
                             STREAM_NAMES[stream])
        except BaseException:
            self.close()
            raise

    def _route(self, stream: bytes, conn: socket.socket) -> socket.socket:
        tcp = socket.create_connection(self.dest, timeout=CONNECT_TIMEOUT)
        try:
            tcp.sendall(stream + (ticket(self.key, stream) if self.key else b""))
        except OSError:
            tcp.close()
            raise
        return tcp

    def close(self) -> None:
        super().close()
        shutil.rmtree(self.directory, ignore_errors=True)


def connect_unix(sock: socket.socket, path: Path) -> None:
    """Connect through the socket's directory, opened as a file descriptor: a unix socket
    address holds at most 107 bytes, and instance directories can be deeper than that."""
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        sock.connect(f"/proc/self/fd/{fd}/{path.name}")
    finally:
        os.close(fd)


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy until `source` ends, then end `sink`'s writing half (the other way may go on)."""
    try:
        while chunk := source.recv(CHUNK):
            sink.sendall(chunk)
        sink.shutdown(socket.SHUT_WR)
    except OSError:  # one end went away, or the relay was closed: end both
        _cut(source)
        _cut(sink)


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
