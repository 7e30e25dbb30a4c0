"""Room for bcrypt: how many password checks run at once, and how many may wait.

A bcrypt check at Keystone's cost takes about a quarter of a second of one core.
Unbounded, a storm of bad logins would take every core and every request thread of
the process; here at most ``concurrent`` checks run and ``waiting`` more wait for
a turn, each in its request's thread. A login beyond that is refused at once with
503, so the other requests (token validation above all) keep threads and CPU.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from labs.common.errors import ServiceUnavailable
from labs.identity.backends.sql import hash_password, verify_password

#: The longest a check waits for its turn before the request gives up.
MAX_WAIT = 30.0


def default_concurrency() -> int:
    """Half the CPUs, at least one: the other half stays for everything else."""
    return max(1, (os.cpu_count() or 2) // 2)


class PasswordChecks:
    def __init__(self, rounds: int, concurrent: int = 0, waiting: int = 24) -> None:
        self.rounds = rounds
        self.concurrent = concurrent or default_concurrency()
        self.waiting = waiting
        self._running = threading.BoundedSemaphore(self.concurrent)
        self._lock = threading.Lock()
        self._admitted = 0
        self._decoy: str | None = None

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold one of the ``concurrent`` turns; 503 when too many are queued already."""
        with self._lock:
            if self._admitted >= self.concurrent + self.waiting:
                raise ServiceUnavailable("Too many password checks are in progress; try "
                                         "again in a moment.")
            self._admitted += 1
        try:
            if not self._running.acquire(timeout=MAX_WAIT):
                raise ServiceUnavailable("Password checks are backed up; try again in a "
                                         "moment.")
            try:
                yield
            finally:
                self._running.release()
        finally:
            with self._lock:
                self._admitted -= 1

    def hash(self, secret: str) -> str:
        with self.turn():
            return hash_password(secret, self.rounds)

    def verify(self, secret: str, hashed: str | None) -> bool:
        """Whether ``secret`` matches ``hashed``; with no hash, as long as a real check."""
        with self.turn():
            if hashed is None:
                # an unknown user costs what a known one does: no timing tells them apart
                verify_password(secret, self._decoy_hash())
                return False
            return verify_password(secret, hashed)

    def _decoy_hash(self) -> str:
        if self._decoy is None:
            self._decoy = hash_password(secrets.token_urlsafe(16), self.rounds)
        return self._decoy
