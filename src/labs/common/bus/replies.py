"""RPC replies: how the reply to a call reaches the thread that is waiting for it."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from labs.common.bus.messages import decode

#: What a call still waiting when its bus stops receives instead of a reply.
STOPPED_REPLY = '{"stopped":true}'


class ReplyWaiter:
    """Where the reply to one call is handed over to the calling thread."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.body: str | bytes | None = None

    def set(self, body: str | bytes) -> None:
        self.body = body
        self.event.set()

    def wait(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds; whether the reply (or the stop) arrived."""
        return self.event.wait(max(0.0, timeout))

    def reply(self) -> dict[str, Any] | None:
        """The decoded reply once it arrived; ``None`` if the bus stopped first."""
        assert self.body is not None
        reply = decode(self.body)
        return None if reply.get("stopped") else reply


class PendingCalls:
    """The calls of one bus that wait for a reply, by correlation id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, ReplyWaiter] = {}

    def expect(self) -> tuple[str, ReplyWaiter]:
        """Register a new call: its correlation id and the waiter its reply will reach."""
        correlation_id, waiter = uuid.uuid4().hex, ReplyWaiter()
        with self._lock:
            self._waiters[correlation_id] = waiter
        return correlation_id, waiter

    def forget(self, correlation_id: str) -> None:
        """The call is over: a reply arriving from now on is dropped."""
        with self._lock:
            self._waiters.pop(correlation_id, None)

    def deliver(self, correlation_id: str, body: str | bytes) -> bool:
        """Hand ``body`` to the call waiting for it; ``False`` for a late or duplicate reply."""
        with self._lock:
            waiter = self._waiters.get(correlation_id)
        if waiter is None:
            return False
        waiter.set(body)
        return True

    def stop_all(self) -> None:
        """Wake every waiting call with :data:`STOPPED_REPLY`."""
        with self._lock:
            waiters = list(self._waiters.values())
        for waiter in waiters:
            waiter.set(STOPPED_REPLY)


__all__ = ["STOPPED_REPLY", "PendingCalls", "ReplyWaiter"]
