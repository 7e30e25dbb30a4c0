"""Contract tests of the message bus, run against both transports.

The RabbitMQ half needs the broker at ``LABS_TEST_RABBIT_URL`` (default
``amqp://guest:guest@127.0.0.1:5672//``); it fails, not skips, when the broker
is unreachable.  Every test uses its own namespace and deletes its queues and
exchanges afterwards.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from labs.common.bus import (
    Bus,
    BusError,
    BusTimeout,
    InProcessBroker,
    InProcessBus,
    Notification,
    RemoteError,
    connect,
    topic_matches,
)
from labs.common.bus.rabbit import RabbitBus
from tests.common.bus_helpers import (
    RABBIT_URL,
    new_namespace,
    require_rabbitmq,
    stop_and_clean_up,
    wait_for,
)

# Small back-off so that tests stay fast; the defaults are for production.
FAST = {"interval_start": 0.05, "interval_step": 0.1, "interval_max": 0.5, "poll_interval": 0.02}


class Calculator:
    """An RPC endpoint."""

    def __init__(self, name: str = "calc") -> None:
        self.name = name
        self.lock = threading.Lock()
        self.seen: list[Any] = []

    def add(self, a: int, b: int) -> int:
        return a + b

    def describe(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"server": self.name, "keys": sorted(item), "item": item}

    def fail(self, why: str) -> None:
        raise ValueError(f"cannot do it: {why}")

    def record(self, value: Any) -> None:
        with self.lock:
            self.seen.append(value)

    def slow_record(self, value: Any, delay: float) -> None:
        time.sleep(delay)
        self.record(value)

    def unserializable(self) -> object:
        return object()

    def _secret(self) -> str:
        return "private"

    def values(self) -> list[Any]:
        with self.lock:
            return list(self.seen)


class Buses:
    """Makes buses of one transport in a test's own namespace; cleans up after."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.namespace = new_namespace()
        self.made: list[Bus] = []

    def __call__(self, **options: Any) -> Bus:
        if self.transport == "rabbit":
            bus = connect(RABBIT_URL, namespace=self.namespace, **{**FAST, **options})
        else:
            bus = connect("memory://", namespace=self.namespace, **options)
        self.made.append(bus)
        return bus

    def close(self) -> None:
        stop_and_clean_up(self.made)
        InProcessBroker.discard(self.namespace)


@pytest.fixture(params=["memory", pytest.param("rabbit", marks=pytest.mark.rabbitmq)])
def buses(request: pytest.FixtureRequest) -> Iterator[Buses]:
    if request.param == "rabbit":
        require_rabbitmq()
    factory = Buses(request.param)
    try:
        yield factory
    finally:
        factory.close()


class TestBusContract:
    def test_call_returns_result(self, buses: Buses) -> None:
        server, client = buses(), buses()
        server.serve("calc", Calculator())
        server.start()
        client.start()
        assert client.call("calc", "add", a=2, b=3, timeout=5) == 5
        item = {"name": "vm1", "tags": ["a", "b"], "ram": 512, "nested": {"x": None}}
        assert client.call("calc", "describe", item=item, timeout=5) == {
            "server": "calc",
            "keys": ["name", "nested", "ram", "tags"],
            "item": item,
        }

    def test_call_remote_exception_gives_remote_error(self, buses: Buses) -> None:
        server, client = buses(), buses()
        server.serve("calc", Calculator())
        server.start()
        client.start()
        with pytest.raises(RemoteError) as info:
            client.call("calc", "fail", why="disk full", timeout=5)
        assert info.value.exc_type == "ValueError"
        assert info.value.remote_message == "cannot do it: disk full"
        assert "ValueError: cannot do it: disk full" in str(info.value)
        assert "calc.fail" in str(info.value)
        for method in ("no_such_method", "_secret", "lock"):
            with pytest.raises(RemoteError) as info:
                client.call("calc", method, timeout=5)
            assert info.value.exc_type == "NoSuchMethod"
        with pytest.raises(RemoteError) as info:
            client.call("calc", "unserializable", timeout=5)
        assert info.value.exc_type == "TypeError"
        # The server survives all of this.
        assert client.call("calc", "add", a=1, b=1, timeout=5) == 2

    def test_call_without_server_times_out(self, buses: Buses) -> None:
        client = buses()
        client.start()
        started = time.monotonic()
        with pytest.raises(BusTimeout, match=r"no reply to 'add' on 'nobody' within 0.5s"):
            client.call("nobody", "add", a=1, b=2, timeout=0.5)
        elapsed = time.monotonic() - started
        assert 0.5 <= elapsed < 1.0, elapsed

    def test_call_needs_started_bus_and_json_arguments(self, buses: Buses) -> None:
        client = buses()
        with pytest.raises(BusError, match="not started"):
            client.call("calc", "add", a=1, b=2, timeout=1)
        with pytest.raises(TypeError, match="JSON"):
            client.cast("calc", "record", value=object())

    def test_cast_is_delivered(self, buses: Buses) -> None:
        server, client = buses(), buses()
        calc = Calculator()
        server.serve("calc", calc)
        server.start()
        for i in range(20):
            client.cast("calc", "record", value=i)
        wait_for(lambda: len(calc.values()) >= 20, what="20 casts")
        assert sorted(calc.values()) == list(range(20))

    def test_cast_sent_before_server_exists_is_kept(self, buses: Buses) -> None:
        client = buses()
        client.cast("late", "record", value="early bird")
        client.cast("late", "record", value="to host", server="h1")
        server = buses()
        calc = Calculator()
        server.serve("late", calc, server="h1")
        server.start()
        wait_for(lambda: len(calc.values()) >= 2, what="casts sent before serve()")
        assert sorted(calc.values()) == ["early bird", "to host"]

    def test_server_targeted_cast_reaches_only_that_server(self, buses: Buses) -> None:
        host1, host2, client = buses(), buses(), buses()
        calc1, calc2 = Calculator("host1"), Calculator("host2")
        host1.serve("compute", calc1, server="host1")
        host2.serve("compute", calc2, server="host2")
        host1.start()
        host2.start()
        client.start()
        for i in range(10):
            client.cast("compute", "record", server="host2", value=f"to-host2-{i}")
        client.cast("compute", "record", server="host1", value="to-host1")
        for i in range(10):
            client.cast("compute", "record", value=f"any-{i}")
        assert client.call("compute", "describe", server="host1", item={}, timeout=5)["server"] == (
            "host1"
        )
        assert client.call("compute", "describe", server="host2", item={}, timeout=5)["server"] == (
            "host2"
        )
        wait_for(lambda: len(calc1.values()) + len(calc2.values()) >= 21, what="21 casts")
        time.sleep(0.2)  # a wrong delivery would show up by now
        one, two = calc1.values(), calc2.values()
        assert {v for v in two if v.startswith("to-")} == {f"to-host2-{i}" for i in range(10)}
        assert [v for v in one if v.startswith("to-")] == ["to-host1"]
        # Untargeted casts are shared: each handled exactly once by one of the hosts.
        anys = Counter(v for v in one + two if v.startswith("any-"))
        assert anys == Counter({f"any-{i}": 1 for i in range(10)})

    def test_notifications_once_per_group_with_patterns(self, buses: Buses) -> None:
        got: dict[str, list[tuple[str, Notification]]] = {}
        lock = threading.Lock()

        def recorder(name: str) -> Callable[[Notification], None]:
            def handle(notification: Notification) -> None:
                with lock:
                    got.setdefault(name, []).append((name, notification))

            return handle

        billing1, billing2, audit, deletes, images = buses(), buses(), buses(), buses(), buses()
        billing1.subscribe("compute.instance.#", recorder("billing1"), group="billing")
        billing2.subscribe("compute.instance.#", recorder("billing2"), group="billing")
        audit.subscribe("#", recorder("audit"), group="audit")
        deletes.subscribe("compute.instance.*", recorder("deletes"), group="deletes")
        images.subscribe("image.*.end", recorder("images"), group="images")
        for bus in (billing1, billing2, audit, deletes, images):
            bus.start()
        publisher = buses(publisher_id="compute.host1")
        publisher.notify("compute.instance.create.end", {"instance_id": "i-1", "state": "active"})
        publisher.notify("compute.instance.delete", {"instance_id": "i-1"}, "compute.host9")
        publisher.notify("image.upload.end", {"image_id": "img-1"}, priority="WARN")
        publisher.notify("volume.create.end", {"volume_id": "v-1"})

        def events(*names: str) -> list[str]:
            with lock:
                return sorted(n.event_type for name in names for _, n in got.get(name, []))

        wait_for(
            lambda: (
                len(events("audit")) == 4
                and len(events("billing1", "billing2")) == 2
                and len(events("deletes")) == 1
                and len(events("images")) == 1
            ),
            what="notifications",
        )
        time.sleep(0.2)  # duplicates would show up by now
        assert events("audit") == [
            "compute.instance.create.end",
            "compute.instance.delete",
            "image.upload.end",
            "volume.create.end",
        ]
        assert events("billing1", "billing2") == [
            "compute.instance.create.end",
            "compute.instance.delete",
        ]
        assert events("deletes") == ["compute.instance.delete"]
        assert events("images") == ["image.upload.end"]

        with lock:
            by_type = {n.event_type: n for _, n in got["audit"]}
        create = by_type["compute.instance.create.end"]
        assert create.payload == {"instance_id": "i-1", "state": "active"}
        assert create.publisher_id == "compute.host1"
        assert create.priority == "INFO"
        assert uuid.UUID(create.message_id)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", create.timestamp)
        assert by_type["compute.instance.delete"].publisher_id == "compute.host9"
        assert by_type["image.upload.end"].priority == "WARN"
        assert set(create.to_dict()) == {
            "event_type",
            "payload",
            "publisher_id",
            "priority",
            "message_id",
            "timestamp",
        }

    def test_failing_handler_does_not_stop_consumer(self, buses: Buses) -> None:
        seen: list[str] = []

        def handle(notification: Notification) -> None:
            if notification.payload.get("bad"):
                raise RuntimeError("handler bug")
            seen.append(notification.event_type)

        consumer, publisher = buses(), buses()
        consumer.subscribe("#", handle, group="g")
        consumer.start()
        publisher.notify("a.bad", {"bad": True})
        publisher.notify("a.good", {})
        wait_for(lambda: seen == ["a.good"], what="the good notification")

    def test_stop_joins_cleanly(self, buses: Buses) -> None:
        server, client = buses(), buses()
        calc = Calculator()
        server.serve("calc", calc, server="h1")
        server.subscribe("#", lambda n: None, group="g")
        with server, client:
            assert client.call("calc", "add", a=1, b=1, timeout=5) == 2
            client.cast("calc", "slow_record", value="in flight", delay=0.3)
            wait_for(lambda: _alive(server) != [], what="server threads")
            time.sleep(0.1)  # the slow cast is now running
        # stop() let the running method finish, then joined every thread.
        assert calc.values() == ["in flight"]
        assert _alive(server) == []
        assert _alive(client) == []
        server.stop()  # idempotent
        with pytest.raises(BusError, match="stopped"):
            client.call("calc", "add", a=1, b=1, timeout=1)
        with pytest.raises(BusError, match="stopped"):
            client.cast("calc", "add", a=1, b=1)
        with pytest.raises(BusError, match="stopped"):
            server.start()

    def test_serve_after_start(self, buses: Buses) -> None:
        server, client = buses(), buses()
        server.start()
        client.start()
        server.serve("later", Calculator())
        assert client.call("later", "add", a=20, b=22, timeout=5) == 42


def _alive(bus: Bus) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(bus.thread_prefix + "-")]


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("compute.instance.*", "compute.instance.delete", True),
        ("compute.instance.*", "compute.instance.create.end", False),
        ("compute.instance.*", "compute.instance", False),
        ("compute.instance.#", "compute.instance", True),
        ("compute.instance.#", "compute.instance.create.end", True),
        ("#", "anything.at.all", True),
        ("#.end", "compute.instance.create.end", True),
        ("#.end", "compute.instance.create.start", False),
        ("*.*.create.*", "compute.instance.create.end", True),
        ("compute.#.end", "compute.end", True),
        ("image.upload", "image.upload", True),
        ("image.upload", "image.uploads", False),
    ],
)
def test_topic_matches(pattern: str, key: str, expected: bool) -> None:
    assert topic_matches(pattern, key) is expected


def test_connect_picks_transport() -> None:
    assert isinstance(connect("memory://"), InProcessBus)
    assert isinstance(connect(""), InProcessBus)
    rabbit = connect("amqp://guest:guest@127.0.0.1:5672//", namespace="unused")
    assert isinstance(rabbit, RabbitBus)
    assert "guest:**@" in rabbit.safe_url  # no password in log messages
    with pytest.raises(ValueError, match="unsupported"):
        connect("redis://localhost")
