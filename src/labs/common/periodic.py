"""Periodic tasks: a function run every few seconds in a named daemon thread that stops
promptly, and logs a failed round and tries again at the next one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("labs.periodic")


class Periodic:
    """Runs ``task`` every ``seconds`` until ``stop``.

    The first round runs after one interval, or at once with ``run_at_start``. ``wake``
    runs the next round now. A round that raises is logged (naming ``what``; with its
    traceback unless the failure is an expected one, such as a bus away) and the next
    round comes as usual, or sooner with ``retry_seconds``: then the rounds after a failure
    come after ``retry_seconds``, doubling up to ``seconds`` (a peer that is starting too
    is asked again soon).
    """

    def __init__(self, name: str, seconds: float, task: Callable[[], None], *,
                 what: str | None = None, run_at_start: bool = False,
                 traceback: bool = True, retry_seconds: float | None = None) -> None:
        self.name = name
        self.seconds = seconds
        self.task = task
        self.what = what or name
        self.run_at_start = run_at_start
        self.traceback = traceback
        self.retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def stopping(self) -> bool:
        """Whether ``stop`` was called (a long round may check it between steps)."""
        return self._stop.is_set()

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, less if stopped; whether ``stop`` was called."""
        return self._stop.wait(seconds)

    def start(self) -> None:
        self._thread.start()

    def running(self) -> bool:
        """Whether its thread runs (started and not stopped)."""
        return self._thread.is_alive() and not self._stop.is_set()

    def wake(self) -> None:
        """Run the next round now rather than at the end of the interval."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the round under way, waiting up to ``timeout`` seconds for it."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        if not self.run_at_start and self._pause(self.seconds):
            return
        failures = 0
        while True:
            wait = self.seconds
            try:
                self.task()
                failures = 0
            except Exception as exc:
                if self.retry_seconds is not None:
                    wait = min(wait, self.retry_seconds * 2 ** failures)
                failures += 1
                log.warning("%s failed (trying again in %.0f s): %s", self.what, wait,
                            exc, exc_info=self.traceback)
            if self._pause(wait):
                return

    def _pause(self, seconds: float) -> bool:
        """Wait ``seconds`` (or a wake); whether to stop."""
        if not self._stop.is_set():
            self._wake.wait(seconds)
            self._wake.clear()
        return self._stop.is_set()
