"""Where bcrypt runs: a few threads at a low CPU priority, with a bounded queue.

A bcrypt check at Keystone's cost takes about a quarter of a second of one core.
Unbounded, a storm of bad logins would take every core and every request thread of
the process. Here every hash and check runs in a small pool of threads niced to 10:
next to ordinary work a check gets about a tenth of a core, so a storm of logins
slows other logins, hardly token validation or the other APIs (nice 19 would starve
logins on a host whose VMs keep the CPUs busy). At most ``concurrent`` run and
``waiting`` more wait (each holding its request's thread); beyond that, 503 at once.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from labs.common.errors import ServiceUnavailable
from labs.identity.backends.sql import hash_password, verify_password

T = TypeVar("T")

#: The longest a request waits for its check before it gives up.
MAX_WAIT = 30.0
#: CFS weight 110 against 1024 for ordinary threads: about a tenth of a contended core.
NICENESS = 10


def _lower_priority() -> None:
    # on Linux a thread id names one thread: only the pool's threads are niced
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)


class PasswordChecks:
    def __init__(self, rounds: int, concurrent: int = 0, waiting: int = 24) -> None:
        self.rounds = rounds
        self.concurrent = concurrent or os.cpu_count() or 1
        self.waiting = waiting
        self._pool = ThreadPoolExecutor(self.concurrent, thread_name_prefix="bcrypt",
                                        initializer=_lower_priority)
        self._lock = threading.Lock()
        self._admitted = 0
        self._decoy: str | None = None

    def run(self, work: Callable[[], T]) -> T:
        """``work`` (a hash or check) on the pool; 503 when too many are queued already."""
        with self._lock:
            if self._admitted >= self.concurrent + self.waiting:
                raise ServiceUnavailable("Too many password checks are in progress; try "
                                         "again in a moment.")
            self._admitted += 1
        try:
            future = self._pool.submit(work)
            try:
                return future.result(timeout=MAX_WAIT)
            except FutureTimeout:
                future.cancel()
                raise ServiceUnavailable("Password checks are backed up; try again in a "
                                         "moment.") from None
        finally:
            with self._lock:
                self._admitted -= 1

    def hash(self, secret: str) -> str:
        return self.run(lambda: hash_password(secret, self.rounds))

    def verify(self, secret: str, hashed: str | None) -> bool:
        """Whether ``secret`` matches ``hashed``; with no hash, as long as a real check."""
        def check() -> bool:
            if hashed is None:
                # an unknown user costs what a known one does: no timing tells them apart
                verify_password(secret, self._decoy_hash())
                return False
            return verify_password(secret, hashed)
        return self.run(check)

    def _decoy_hash(self) -> str:
        if self._decoy is None:
            self._decoy = hash_password(secrets.token_urlsafe(16), self.rounds)
        return self._decoy
