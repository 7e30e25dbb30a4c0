"""RabbitMQ fault tests: the bus survives cut connections.

A TCP proxy on 127.0.0.1 (free port) forwards to the test broker and can cut
every current connection and refuse new ones for a while, which is what a
RabbitMQ restart looks like to a client.  All loops are bounded in count and
time.  Needs the broker at ``LABS_TEST_RABBIT_URL`` (fails when unreachable).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from labs.common.bus import BusError, BusTimeout, BusUnavailable
from labs.common.bus.rabbit import RabbitBus
from tests.common.bus_helpers import (
    RABBIT_URL,
    new_namespace,
    require_rabbitmq,
    stop_and_clean_up,
    wait_for,
)

pytestmark = pytest.mark.rabbitmq

FAST: dict[str, Any] = {
    "interval_start": 0.05,
    "interval_step": 0.1,
    "interval_max": 0.3,
    "max_retries": 40,
    "poll_interval": 0.02,
    "connect_timeout": 2.0,
    "confirm_timeout": 3.0,
    "heartbeat": 5.0,
}


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


class _Pipe:
    """One proxied connection: two sockets and two pump threads."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client, self.upstream = client, upstream
        self._lock = threading.Lock()
        self._running = 2
        self.threads = [
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True),
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def kill(self) -> None:
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self.kill()
            with self._lock:
                self._running -= 1
                last = self._running == 0
            if last:
                self.client.close()
                self.upstream.close()


class FlakyProxy:
    """TCP proxy to the broker that can cut its connections and refuse new ones."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pipes: list[_Pipe] = []
        self._refuse_until = 0.0
        self._closed = threading.Event()
        self.cuts = 0
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            if time.monotonic() < self._refuse_until or self._closed.is_set():
                client.close()  # broker "down": the handshake fails
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            pipe = _Pipe(client, upstream)
            with self._lock:
                self._pipes = [p for p in self._pipes if any(t.is_alive() for t in p.threads)]
                self._pipes.append(pipe)
            pipe.start()

    def cut(self, down_for: float) -> None:
        """Kill every current connection and refuse new ones for ``down_for`` seconds."""
        with self._lock:
            self._refuse_until = time.monotonic() + down_for
            pipes = list(self._pipes)
            self.cuts += 1
        for pipe in pipes:
            pipe.kill()

    def restore(self) -> None:
        self._refuse_until = 0.0

    def active(self) -> int:
        with self._lock:
            return sum(1 for p in self._pipes if any(t.is_alive() for t in p.threads))

    def close(self) -> None:
        self._closed.set()
        self._acceptor.join(5)
        self._listener.close()
        with self._lock:
            pipes = list(self._pipes)
        for pipe in pipes:
            pipe.kill()
        for pipe in pipes:
            for thread in pipe.threads:
                thread.join(5)


@pytest.fixture
def rabbit() -> tuple[str, int]:
    return require_rabbitmq()


@pytest.fixture
def proxy(rabbit: tuple[str, int]) -> Iterator[FlakyProxy]:
    p = FlakyProxy(rabbit)
    try:
        yield p
    finally:
        p.close()


class Env:
    """Buses of one test namespace, direct or through the proxy."""

    def __init__(self, proxy: FlakyProxy) -> None:
        self.proxy = proxy
        self.namespace = new_namespace()
        self.proxied_url = with_port(RABBIT_URL, proxy.port)
        self.made: list[RabbitBus] = []

    def bus(self, *, proxied: bool = True, **options: Any) -> RabbitBus:
        url = self.proxied_url if proxied else RABBIT_URL
        bus = RabbitBus(url, self.namespace, **{**FAST, **options})
        self.made.append(bus)
        return bus

    def close(self) -> None:
        self.proxy.restore()
        stop_and_clean_up(self.made)


@pytest.fixture
def env(proxy: FlakyProxy) -> Iterator[Env]:
    e = Env(proxy)
    try:
        yield e
    finally:
        e.close()


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.ids: Counter[int] = Counter()

    def record(self, id: int) -> None:
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.ids[id] += 1

    def add(self, a: int, b: int) -> int:
        if self.delay:
            time.sleep(self.delay)
        return a + b

    def received(self) -> set[int]:
        with self.lock:
            return set(self.ids)


def reconnect_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "labs.bus" and r.levelno == logging.WARNING and "reconnect" in r.getMessage()
    ]


def test_no_cast_lost_when_connection_cut_twice(
    env: Env, proxy: FlakyProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="labs.bus")
    started = time.monotonic()
    recorder = Recorder(delay=0.001)
    consumer = env.bus(workers=4)
    consumer.serve("fault", recorder)
    consumer.start()
    producer = env.bus()
    total = 300
    for i in range(total):
        producer.cast("fault", "record", id=i)
        if i in (100, 200):
            proxy.cut(down_for=0.5)
    assert proxy.cuts == 2
    wait_for(lambda: recorder.received() == set(range(total)), 20, "every cast to arrive")
    assert recorder.received() == set(range(total))  # none lost (duplicates are allowed)
    duplicates = sum(n - 1 for n in recorder.ids.values())
    print(f"{total} casts, 2 cuts: all delivered, {duplicates} redelivered twice or more")
    assert duplicates < total
    warnings = reconnect_warnings(caplog)
    assert any("consumer reconnected" in w for w in warnings), warnings
    assert any("publisher reconnected" in w for w in warnings), warnings
    assert time.monotonic() - started < 25


def test_calls_across_cuts_succeed_or_fail_clearly(env: Env, proxy: FlakyProxy) -> None:
    server = env.bus()
    server.serve("calc", Recorder(delay=0.02))
    server.start()
    client = env.bus()
    client.start()
    assert client.call("calc", "add", a=1, b=1, timeout=5) == 2

    cutter_done = threading.Event()

    def cutter() -> None:
        time.sleep(0.3)
        proxy.cut(down_for=0.4)
        time.sleep(1.2)
        proxy.cut(down_for=1.5)  # longer than a call's timeout
        cutter_done.set()

    thread = threading.Thread(target=cutter, daemon=True)
    thread.start()
    timeout = 1.0
    outcomes: Counter[str] = Counter()
    loop_end = time.monotonic() + 8
    for i in range(400):
        if cutter_done.is_set() and outcomes["ok-after-cuts"] >= 3:
            break
        assert time.monotonic() < loop_end, f"calls did not recover: {outcomes}"
        begun = time.monotonic()
        try:
            result = client.call("calc", "add", a=i, b=1000, timeout=timeout)
        except (BusTimeout, BusUnavailable) as exc:
            message = str(exc)
            assert ("no reply to 'add' on 'calc'" in message) or (
                "RabbitMQ at" in message and "is unavailable" in message
            ), message
            outcomes[type(exc).__name__] += 1
        else:
            assert result == i + 1000
            outcomes["ok-after-cuts" if cutter_done.is_set() else "ok"] += 1
        elapsed = time.monotonic() - begun
        assert elapsed < timeout + 0.5, f"call {i} took {elapsed:.2f}s"
    thread.join(5)
    print(f"call outcomes across two cuts: {dict(outcomes)}")
    assert outcomes["ok-after-cuts"] >= 3, outcomes
    assert outcomes["BusTimeout"] + outcomes["BusUnavailable"] >= 1, outcomes


def test_consumer_keeps_receiving_after_proxy_comes_back(
    env: Env, proxy: FlakyProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="labs.bus")
    recorder = Recorder()
    consumer = env.bus()
    consumer.serve("steady", recorder, server="host1")
    consumer.start()
    producer = env.bus(proxied=False)
    producer.cast("steady", "record", server="host1", id=0)
    wait_for(lambda: recorder.received() == {0}, 5, "the first cast")

    proxy.cut(down_for=1.0)
    wait_for(lambda: not consumer.consumer_connected.is_set(), 5, "the consumer to notice")
    for i in range(1, 11):  # sent while the consumer is cut off
        producer.cast("steady", "record", server="host1", id=i)
    wait_for(lambda: recorder.received() == set(range(11)), 10, "casts sent during the cut")
    for i in range(11, 21):
        producer.cast("steady", "record", id=i)
    wait_for(lambda: recorder.received() == set(range(21)), 5, "casts sent after the cut")
    assert consumer.consumer_connected.is_set()
    assert any("consumer connection" in w and "lost" in w for w in reconnect_warnings(caplog))


def test_unreachable_broker_gives_bus_unavailable(env: Env, proxy: FlakyProxy) -> None:
    bus = env.bus(max_retries=3)
    proxy.cut(down_for=30)
    begun = time.monotonic()
    with pytest.raises(BusUnavailable) as info:
        bus.cast("calc", "add", a=1, b=2)
    assert time.monotonic() - begun < 5
    message = str(info.value)
    assert f"RabbitMQ at amqp://guest:**@127.0.0.1:{proxy.port}//" in message
    assert "is unavailable: cast 'add' on 'calc' could not be sent after 4 attempts" in message
    with pytest.raises(BusUnavailable):
        bus.start()


def test_call_while_broker_down_ends_by_its_timeout(env: Env, proxy: FlakyProxy) -> None:
    client = env.bus()
    client.start()
    proxy.cut(down_for=30)
    for timeout in (0.3, 1.0):
        begun = time.monotonic()
        with pytest.raises((BusUnavailable, BusTimeout)) as info:
            client.call("calc", "add", a=1, b=2, timeout=timeout)
        assert time.monotonic() - begun < timeout + 0.5
        assert isinstance(info.value, BusError)
    proxy.restore()
    # Back to normal once the broker is reachable again.
    server = env.bus()
    server.serve("calc", Recorder())
    server.start()
    wait_for(lambda: client.consumer_connected.is_set(), 10, "the client to reconnect")
    assert client.call("calc", "add", a=1, b=2, timeout=5) == 3
