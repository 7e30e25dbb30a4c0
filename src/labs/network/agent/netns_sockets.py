"""Listening sockets inside network namespaces, for the metadata service and the DNS
relay.

A socket belongs to the network namespace of the thread that created it, for good. So
one process can listen in every project network's namespace: a short-lived thread enters
the namespace with setns(2), makes the socket, switches back and ends.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import socket
import threading

from labs.network.agent.netns import NETNS_DIR
from labs.network.specs import InvalidRequest, NetworkError, check_ipv4

log = logging.getLogger("labs.network.agent.netns")

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_libc.setns.argtypes = (ctypes.c_int, ctypes.c_int)
_libc.setns.restype = ctypes.c_int


class NamespaceListenError(NetworkError):
    """A listener inside a network's namespace could not be opened; the message says
    what to check."""


def listen_in_namespace(namespace: str, address: str, port: int, backlog: int = 64,
                        udp: bool = False) -> socket.socket:
    """A TCP socket listening on `address`:`port` inside the network namespace
    `namespace` (``/run/netns/<namespace>``); with `udp`, a UDP socket bound there.

    The socket is made by a short-lived thread of its own that switches into the
    namespace with setns(2) and back, so no other thread ever runs in the wrong
    namespace. InvalidRequest for a bad name, address or port; NamespaceListenError when
    the namespace does not exist, the address is not on any of its interfaces, the port
    is taken, or the process may not enter it.
    """
    if not namespace or "/" in namespace or namespace in (".", ".."):
        raise InvalidRequest(f"bad network namespace name {namespace!r}")
    check_ipv4("listen address", address)
    if not 1 <= port <= 65535:
        raise InvalidRequest(f"bad port {port}: use 1-65535")
    made: list[socket.socket] = []
    failed: list[BaseException] = []

    def make() -> None:
        try:
            made.append(_listen_here(namespace, address, port, backlog, udp))
        except BaseException as exc:  # handed to the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=make, name=f"netns-{namespace}", daemon=True)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return made[0]


def _listen_here(namespace: str, address: str, port: int, backlog: int,
                 udp: bool) -> socket.socket:
    """Runs in the short-lived thread of `listen_in_namespace`."""
    try:
        target = os.open(NETNS_DIR / namespace, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NamespaceListenError(
            f"network namespace {namespace} does not exist: check that its network is set "
            f"up on this host (ip netns list)") from None
    except OSError as exc:
        raise NamespaceListenError(f"cannot open network namespace {namespace}: {exc}") \
            from None
    try:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target, f"network namespace {namespace}")
            try:
                return _bind(namespace, address, port, backlog, udp)
            finally:
                try:
                    _setns(own, "the service's own network namespace")
                except NamespaceListenError as exc:
                    # The thread ends here, so nothing else runs in the wrong namespace.
                    log.error("%s", exc)
        finally:
            os.close(own)
    finally:
        os.close(target)


def _setns(fd: int, what: str) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise NamespaceListenError(
            f"cannot enter {what}: {os.strerror(code)}"
            + (" (listening inside a network namespace needs root: CAP_SYS_ADMIN)"
               if code == errno.EPERM else ""))


def _bind(namespace: str, address: str, port: int, backlog: int,
          udp: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        if not udp:
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRNOTAVAIL:
            raise NamespaceListenError(
                f"{address} is on no interface of network namespace {namespace}: check the "
                f"network's gateway address (ip -n {namespace} addr)") from None
        if exc.errno == errno.EADDRINUSE:
            raise NamespaceListenError(
                f"{address}:{port} in network namespace {namespace} is taken by another "
                f"listener (ip netns exec {namespace} ss -{'u' if udp else 't'}lnp)") from None
        raise NamespaceListenError(
            f"cannot listen on {address}:{port} in network namespace {namespace}: {exc}") \
            from None
    return sock
