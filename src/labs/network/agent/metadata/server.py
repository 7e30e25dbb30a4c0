"""The metadata service VMs reach at 169.254.169.254: one process serving every network.

The bridge driver (labs.network.agent.drivers.bridge, with `metadata_port`) sends a VM's
TCP to 169.254.169.254:80 to ``<gateway>:<port>`` inside its network's namespace. There
`MetadataServer` listens: for each network it is told about, it opens a listening socket
created inside that namespace (a socket keeps the namespace it was made in, whatever
thread later uses it). The socket that took a connection says which network the caller
is on; the peer address (the VM's fixed IP, which DNAT leaves alone) says which instance,
and the `MetadataSource` finds its record. The answers are the ``formats`` module's.
The peer address can be trusted because the driver's rules drop whatever a port sends
from an address other than its own.

A listening socket keeps its namespace alive, devices included, even after ``ip netns
del``: call `remove_network` before the network is deleted.

The server speaks just enough HTTP/1.x for metadata clients (cloud-init, busybox wget,
curl): one GET or HEAD per connection, answered with ``Connection: close``; request line
and headers at most 8 KiB, arriving within `head_timeout` seconds (a caller trickling
bytes gains nothing); every connection closed after `timeout` seconds at the latest.

Connections are counted per caller (a VM: its network and address), per network and in
all, and one over any limit is closed unanswered. A caller holds at most `per_caller`
connections and a network at most `per_network`, so one VM (or one project's network)
cannot take the slots other VMs need, on its network or any other; `max_connections`
only bounds the threads of the host.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType

from labs.network.agent.metadata.access import AccessSource, StaticAccessSource
from labs.network.agent.metadata.access_http import access_paths
from labs.network.agent.metadata.formats import MetadataResponse, answer
from labs.network.agent.metadata.source import (
    InstanceMetadata,
    MetadataSource,
    StaticMetadataSource,
)
from labs.network.agent.netns_sockets import NamespaceListenError, listen_in_namespace
from labs.network.specs import check_id

__all__ = [
    "AccessSource",
    "InstanceMetadata",
    "MetadataServer",
    "MetadataSource",
    "NamespaceListenError",
    "StaticAccessSource",
    "StaticMetadataSource",
    "listen_in_namespace",
]

log = logging.getLogger("labs.network.agent.metadata.server")

MAX_HEAD = 8192
#: After the answer, how long a caller may still send (a body we did not want).
LINGER = 1.0


class _Slots:
    """Connections under way, per caller, per network and in all."""

    def __init__(self, total: int, per_network: int, per_caller: int) -> None:
        self.limits = (total, per_network, per_caller)
        self._lock = threading.Lock()
        self._total = 0
        self._networks: dict[str, int] = {}
        self._callers: dict[tuple[str, str], int] = {}
        self._refused: set[tuple[str, str]] = set()  # told in the log already

    def take(self, network_id: str, caller: str) -> tuple[str | None, bool]:
        """Take a slot for `caller` on `network_id`: (None, _) when taken, else (which
        limit is reached, whether to log it: once until the caller's requests end, so a
        flood of refused connections does not flood the log)."""
        total, per_network, per_caller = self.limits
        key = (network_id, caller)
        with self._lock:
            if self._callers.get(key, 0) >= per_caller:
                full = f"the caller has {per_caller} requests under way"
            elif self._networks.get(network_id, 0) >= per_network:
                full = f"the network has {per_network} requests under way"
            elif self._total >= total:
                full = f"the host has {total} requests under way"
            else:
                full = None
            if full is not None:
                first = key not in self._refused
                self._refused.add(key)
                return full, first
            self._total += 1
            self._networks[network_id] = self._networks.get(network_id, 0) + 1
            self._callers[key] = self._callers.get(key, 0) + 1
            return None, False

    def give_back(self, network_id: str, caller: str) -> None:
        key = (network_id, caller)
        with self._lock:
            self._total -= 1
            self._networks[network_id] -= 1
            if not self._networks[network_id]:
                del self._networks[network_id]
            self._callers[key] -= 1
            if not self._callers[key]:
                del self._callers[key]
                self._refused.discard(key)


@dataclass
class _Listener:
    """One network's listening socket and the thread accepting on it."""

    network_id: str
    namespace: str
    address: str
    port: int
    sock: socket.socket
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def where(self) -> tuple[str, str, int]:
        return (self.namespace, self.address, self.port)


class MetadataServer:
    """Serves the metadata of `source`'s instances on every network it is told about,
    and, with `access`, their projects' accounts under /labs/v1 (else 404 there).

    `add_network` and `remove_network` may be repeated and called from any thread;
    `close` stops everything (also as a context manager).
    """

    def __init__(self, source: MetadataSource, *, access: AccessSource | None = None,
                 timeout: float = 5.0,
                 head_timeout: float = 2.0, max_connections: int = 1024,
                 per_network: int = 32, per_caller: int = 4) -> None:
        self.source = source
        self.access = access
        self.timeout = timeout
        self.head_timeout = min(head_timeout, timeout)
        self._slots = _Slots(max_connections, per_network, per_caller)
        self._lock = threading.Lock()
        self._listeners: dict[str, _Listener] = {}
        self._connections: set[threading.Thread] = set()
        self._closed = False

    def __enter__(self) -> MetadataServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def add_network(self, network_id: str, namespace: str, address: str, port: int) -> None:
        """Serve the network's VMs on `address`:`port` (its gateway and the driver's
        metadata port) inside `namespace`. Repeating it is fine; new values replace the
        old listener. NamespaceListenError (see `listen_in_namespace`) when it cannot;
        the old listener, if any, then stays."""
        check_id("network", network_id)
        with self._lock:
            if self._closed:
                raise NamespaceListenError("the metadata server is closed")
            old = self._listeners.get(network_id)
            if old is not None and old.where == (namespace, address, port):
                return
        # The new listener first: if it cannot be opened, the old one keeps serving.
        sock = listen_in_namespace(namespace, address, port)
        listener = _Listener(network_id, namespace, address, port, sock)
        listener.thread = threading.Thread(target=self._accept, args=(listener,),
                                           name=f"metadata-{network_id}", daemon=True)
        with self._lock:
            if self._closed or self._listeners.get(network_id) is not old:
                sock.close()  # closed, or changed by another caller meanwhile: theirs wins
                if self._closed:
                    raise NamespaceListenError("the metadata server is closed")
                return
            self._listeners[network_id] = listener
        listener.thread.start()
        if old is not None:
            self._stop(old)
        log.info("serving metadata for network %s on %s:%d in %s", network_id, address,
                 port, namespace)

    def remove_network(self, network_id: str) -> None:
        """Stop serving the network and close its socket; an unknown network is fine."""
        with self._lock:
            listener = self._listeners.pop(network_id, None)
        if listener is not None:
            self._stop(listener)
            log.info("stopped serving metadata for network %s", network_id)

    def networks(self) -> dict[str, tuple[str, str, int]]:
        """The networks served: network id to (namespace, address, port)."""
        with self._lock:
            return {n: x.where for n, x in self._listeners.items()}

    def close(self) -> None:
        """Close every listener and wait (at most `timeout`) for answers under way."""
        with self._lock:
            self._closed = True
            listeners = list(self._listeners.values())
            self._listeners.clear()
        for listener in listeners:
            self._stop(listener)
        deadline = time.monotonic() + self.timeout
        with self._lock:
            connections = list(self._connections)
        for thread in connections:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _stop(self, listener: _Listener) -> None:
        listener.stopping.set()
        with contextlib.suppress(OSError):
            # Wakes the blocked accept() at once (Linux), and refuses new connections.
            listener.sock.shutdown(socket.SHUT_RDWR)
        if listener.thread is not None:
            listener.thread.join(self.timeout)
        listener.sock.close()

    def _accept(self, listener: _Listener) -> None:
        while not listener.stopping.is_set():
            try:
                conn, peer = listener.sock.accept()
            except OSError as exc:
                if listener.stopping.is_set():
                    return
                log.warning("accepting on network %s failed: %s", listener.network_id, exc)
                listener.stopping.wait(0.1)  # e.g. out of file descriptors: do not spin
                continue
            caller = str(peer[0])
            full, tell = self._slots.take(listener.network_id, caller)
            if full is not None:
                if tell:
                    log.warning("network %s: closing metadata requests from %s "
                                "unanswered: %s", listener.network_id, caller, full)
                conn.close()
                continue
            thread = threading.Thread(target=self._serve,
                                      args=(conn, listener.network_id, caller),
                                      name=f"metadata-{listener.network_id}-{caller}",
                                      daemon=True)
            with self._lock:
                self._connections.add(thread)
            try:
                thread.start()
            except RuntimeError as exc:  # out of threads: this caller waits, others too
                log.warning("network %s: cannot serve %s: %s", listener.network_id,
                            caller, exc)
                with self._lock:
                    self._connections.discard(thread)
                self._slots.give_back(listener.network_id, caller)
                conn.close()

    def _serve(self, conn: socket.socket, network_id: str, caller: str) -> None:
        try:
            with conn:
                self._answer(conn, network_id, caller)
        except OSError as exc:
            log.info("network %s: the connection from %s failed: %s", network_id, caller,
                     exc)
        finally:
            self._slots.give_back(network_id, caller)
            with self._lock:
                self._connections.discard(threading.current_thread())

    def _answer(self, conn: socket.socket, network_id: str, caller: str) -> None:
        started = time.monotonic()
        deadline = started + self.timeout
        method, target, version = "-", "-", "HTTP/1.1"
        try:
            head = _read_head(conn, started + self.head_timeout)
        except _HeadTooLarge:
            response = MetadataResponse(431, b"431 Request Header Fields Too Large\n")
        else:
            if head is None:
                log.info("network %s: %s sent no complete request in time", network_id,
                         caller)
                return
            request = _parse_request_line(head)
            if request is None:
                response = MetadataResponse(400, b"400 Bad Request\n")
            else:
                method, target, version = request
                extra = access_paths(self.access, _header(head, "if-none-match"))
                response = answer(self.source, network_id, caller, method, target, extra)
        conn.settimeout(max(0.1, deadline - time.monotonic()))
        conn.sendall(_serialize(response, version, with_body=method != "HEAD"))
        _linger(conn, min(deadline, time.monotonic() + LINGER))
        log.info("network %s: %s %s %s -> %d", network_id, caller, method, target,
                 response.status)


def _linger(conn: socket.socket, deadline: float) -> None:
    """Close our side, then read what the caller still sends (a body we did not want)
    until it closes: closing with unread data would reset the connection and could
    destroy the answer before the caller read it. Bounded by `deadline` and 64 KiB."""
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_WR)
        left = 1 << 16
        while left > 0 and (remaining := deadline - time.monotonic()) > 0:
            conn.settimeout(remaining)
            chunk = conn.recv(min(left, 4096))
            if not chunk:
                return
            left -= len(chunk)


class _HeadTooLarge(Exception):
    """The request line and headers are longer than MAX_HEAD."""


def _read_head(conn: socket.socket, deadline: float) -> bytes | None:
    """The request line and headers; None when the caller went away or was too slow;
    _HeadTooLarge past MAX_HEAD."""
    head = b""
    while b"\r\n\r\n" not in head and b"\n\n" not in head:
        if len(head) > MAX_HEAD:
            raise _HeadTooLarge
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        conn.settimeout(remaining)
        try:
            chunk = conn.recv(4096)
        except TimeoutError:
            return None
        if not chunk:
            return None
        head += chunk
    end = min(i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0)
    if end > MAX_HEAD:
        raise _HeadTooLarge
    return head[:end]


def _parse_request_line(head: bytes) -> tuple[str, str, str] | None:
    """(method, target, version) of an HTTP/1.x request line; None if it is not one."""
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        method, target, version = line.decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        return None
    if not method.isalpha() or not version.startswith("HTTP/1.") or not target:
        return None
    return method, target, version


def _header(head: bytes, name: str) -> str | None:
    """The value of the request header `name` (lower case); None when absent."""
    for line in head.split(b"\n")[1:]:
        key, sep, value = line.decode("latin-1").partition(":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


def _serialize(response: MetadataResponse, version: str, *, with_body: bool) -> bytes:
    reason = HTTPStatus(response.status).phrase
    headers = [("Content-Type", response.content_type),
               ("Content-Length", str(len(response.body))),
               ("Connection", "close"), *response.headers]
    proto = "HTTP/1.0" if version == "HTTP/1.0" else "HTTP/1.1"
    head = f"{proto} {response.status} {reason}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    return head.encode("latin-1") + (response.body if with_body else b"")
