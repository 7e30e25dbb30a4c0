"""Talking to the directory: a small pool of connections, paged searches, escaping.

One :class:`Directory` per process holds up to ``size`` ldap3 connections (SYNC
strategy), each used by one thread at a time. Not ldap3's SAFE_SYNC: that multiplexes
every thread over one socket, so one dead socket fails every request at once and
ldap3's paged-search helper reads shared state; a pool of plain connections lets a
broken one be dropped alone and reopened at the next request.

Every search is paged (RFC 2696, ``page_size`` entries a page), so a directory of
any size answers without hitting a size limit. Connects and operations time out.
A directory that cannot be reached, that closed the connection or that did not
answer in time raises :class:`DirectoryUnavailable`, which the HTTP layers render
as 503 in their OpenStack body.

Callers build filters with :func:`equals` / :func:`any_of` (values escaped with
``escape_filter_chars``) and DNs with :func:`rdn` (``escape_rdn``): nothing a user
sends reaches a filter or a DN unescaped.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

from ldap3 import BASE, NONE, SUBTREE, SYNC, Connection, Server
from ldap3.core import exceptions as ldap_errors
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from labs.common.errors import ServiceUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The paged-results control (RFC 2696).
PAGED = "1.2.840.113556.1.4.319"
#: No search reads more pages than this (10 million entries at 500 a page).
MAX_PAGES = 20_000

#: Failures that mean the directory is not there to answer: 503, never 500.
UNREACHABLE: tuple[type[Exception], ...] = (
    ldap_errors.LDAPCommunicationError, ldap_errors.LDAPResponseTimeoutError,
    ldap_errors.LDAPSocketOpenError, ldap_errors.LDAPBindError,
    ldap_errors.LDAPBusyResult, ldap_errors.LDAPUnavailableResult,
    ldap_errors.LDAPSessionTerminatedByServerError,
)


class DirectoryUnavailable(ServiceUnavailable):
    def __init__(self, detail: str = "") -> None:
        super().__init__("The account directory is unavailable; try again in a moment."
                         + (f" ({detail})" if detail else ""))


def equals(attribute: str, value: str) -> str:
    """``(attribute=value)`` with the value escaped (``*``, ``(``, ``)``, ``\\``, NUL)."""
    return f"({attribute}={escape_filter_chars(value)})"


def any_of(attribute: str, values: Sequence[str]) -> str:
    """A filter matching any of ``values``; an empty list matches nothing."""
    if not values:
        return "(!(objectClass=*))"
    return "(|" + "".join(equals(attribute, v) for v in values) + ")"


def all_of(*filters: str) -> str:
    return "(&" + "".join(filters) + ")"


def rdn(attribute: str, value: str) -> str:
    """One escaped DN component: ``,``, ``+``, ``=``, quotes and spaces stay literal."""
    return f"{attribute}={escape_rdn(value)}"


@dataclass(frozen=True)
class Entry:
    dn: str
    attributes: dict[str, list[str]]

    def first(self, name: str, default: str | None = None) -> str | None:
        values = self.attributes.get(name.lower())
        return values[0] if values else default


def _entry(response: dict[str, Any]) -> Entry:
    raw: dict[str, list[bytes]] = response["raw_attributes"]
    return Entry(response["dn"], {k.lower(): [v.decode("utf-8", "replace") for v in values]
                                  for k, values in raw.items()})


class Directory:
    """The directory at ``url``, bound as ``bind_dn``; one per process."""

    def __init__(self, url: str, bind_dn: str, password: str, base_dn: str, *,
                 size: int = 8, connect_timeout: float = 5.0, timeout: float = 10.0,
                 page_size: int = 500) -> None:
        self.url = url
        self.base_dn = base_dn
        self.page_size = page_size
        self._connect_timeout = connect_timeout
        self._bind = (bind_dn, password)
        self._timeout = timeout
        self._idle: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._repairs: list[Callable[[], None]] = []
        self._repairs_lock = threading.Lock()

    # -- connections ---------------------------------------------------------
    def _open(self) -> Connection:
        # a Server of its own each time: ldap3's remembers an address that failed and
        # skips it for minutes, past the directory's restart
        server = Server(self.url, get_info=NONE, connect_timeout=self._connect_timeout)
        conn = Connection(server, user=self._bind[0], password=self._bind[1],
                          client_strategy=SYNC, raise_exceptions=True,
                          receive_timeout=max(1, round(self._timeout)),
                          return_empty_attributes=False)
        try:
            conn.open(read_server_info=False)
            conn.bind()
        except BaseException:
            _close(conn)
            raise
        return conn

    def _drop_idle(self) -> None:
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return
            _close(conn)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection of the pool for this thread alone; dropped if the directory fails."""
        if not self._slots.acquire(timeout=self._timeout):
            raise DirectoryUnavailable("every directory connection is busy")
        conn: Connection | None = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._open()
            yield conn
            self._idle.put(conn)
        except UNREACHABLE as exc:
            # the others were opened to the same directory: most likely dead too
            self._drop_idle()
            if conn is not None:
                _close(conn)
            log.warning("directory unavailable: %s", exc)
            raise DirectoryUnavailable(type(exc).__name__) from None
        except BaseException:
            if conn is not None:
                self._idle.put(conn)
            raise
        finally:
            self._slots.release()

    def run(self, work: Callable[[Connection], T], retry: bool = False) -> T:
        """``work`` on a pooled connection; a read (``retry``) gets a second, fresh try."""
        self._repair()
        try:
            with self.connection() as conn:
                return work(conn)
        except DirectoryUnavailable:
            if not retry:
                raise
        with self.connection() as conn:
            return work(conn)

    def close(self) -> None:
        self._drop_idle()

    # -- undoing what a failed request wrote -----------------------------------
    def repair_later(self, undo: Callable[[], None]) -> None:
        """Keep an undo that could not run (the directory was away) for the next request."""
        with self._repairs_lock:
            self._repairs.append(undo)

    def _repair(self) -> None:
        with self._repairs_lock:
            pending, self._repairs = self._repairs, []
        for index, undo in enumerate(pending):
            try:
                undo()
            except DirectoryUnavailable:
                with self._repairs_lock:
                    self._repairs[:0] = pending[index:]
                raise

    # -- operations ----------------------------------------------------------
    def search(self, base: str, search_filter: str, attributes: Sequence[str],
               scope: str = SUBTREE) -> list[Entry]:
        """Every entry under ``base`` matching ``search_filter``, page by page."""
        def pages(conn: Connection) -> list[Entry]:
            found: list[Entry] = []
            cookie: bytes | None = None
            for _ in range(MAX_PAGES):
                try:
                    conn.search(base, search_filter, scope, attributes=list(attributes),
                                paged_size=self.page_size, paged_cookie=cookie)
                except ldap_errors.LDAPNoSuchObjectResult:
                    return []
                found.extend(_entry(r) for r in conn.response
                             if r.get("type") == "searchResEntry")
                control = (conn.result.get("controls") or {}).get(PAGED)
                cookie = control["value"]["cookie"] if control else None
                if not cookie:
                    return found
            raise DirectoryUnavailable(f"a search of {base} returned too many pages")
        return self.run(pages, retry=True)

    def read(self, dn: str, attributes: Sequence[str]) -> Entry | None:
        """The entry at ``dn``, or None."""
        found = self.search(dn, "(objectClass=*)", attributes, scope=BASE)
        return found[0] if found else None

    def add(self, dn: str, attributes: dict[str, Any]) -> None:
        self.run(lambda conn: conn.add(dn, attributes=attributes))

    def modify(self, dn: str, changes: dict[str, list[tuple[str, list[Any]]]]) -> None:
        self.run(lambda conn: conn.modify(dn, changes))

    def delete(self, dn: str) -> None:
        self.run(lambda conn: conn.delete(dn))


def _close(conn: Connection) -> None:
    try:
        conn.unbind()
    except Exception:  # a dead socket may fail to close; it is gone either way
        log.debug("closing a directory connection failed", exc_info=True)
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with suppress(OSError):
            sock.close()
