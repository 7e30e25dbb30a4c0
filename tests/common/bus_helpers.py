"""Helpers shared by the message bus tests (``test_bus.py``, ``test_bus_rabbit.py``)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import pytest

from labs.common.bus import Bus
from labs.common.bus.rabbit import RabbitBus

RABBIT_URL = os.environ.get("LABS_TEST_RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672//")


def broker_address(url: str = RABBIT_URL) -> tuple[str, int]:
    """Host and port of the RabbitMQ at ``url``."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5672


def require_rabbitmq(url: str = RABBIT_URL) -> tuple[str, int]:
    """Fail (not skip) when the RabbitMQ of the test run cannot be reached; its address."""
    host, port = broker_address(url)
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        pytest.fail(f"RabbitMQ is not reachable at {host}:{port} ({exc}); these tests need it")
    return host, port


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition",
             interval: float = 0.01) -> None:
    """Return once ``predicate()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def new_namespace() -> str:
    """A bus namespace of one test's own: its queues and exchanges clash with no one's."""
    return f"test-{uuid.uuid4().hex[:12]}"


def stop_and_clean_up(buses: Iterable[Bus]) -> None:
    """Stop ``buses``, then delete the queues and exchanges the RabbitMQ ones declared."""
    buses = list(buses)
    for bus in buses:
        bus.stop()
    for bus in buses:
        if isinstance(bus, RabbitBus):
            bus.delete_declared()
