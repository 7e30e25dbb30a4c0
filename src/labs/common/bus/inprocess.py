"""In-process transport: threads and queues inside one Python process.

Used by the all-in-one deployment and by unit tests.  Every message is
JSON-encoded and decoded on the way, so code that works here does not break on
RabbitMQ because of a non-serializable argument.  Buses created with the same
namespace share one :class:`InProcessBroker`, so services that each call
``connect("memory://")`` talk to each other.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from labs.common.bus.base import (
    DEFAULT_CALL_TIMEOUT,
    DEFAULT_NAMESPACE,
    LOG,
    Bus,
    BusError,
    BusTimeout,
    Notification,
    NotificationHandler,
    check_name,
    decode,
    encode,
    reply_value,
    rpc_routing_key,
    run_request,
    topic_matches,
)

_POLL = 0.05


@dataclass
class _Envelope:
    body: str
    expires_at: float | None = None
    reply: Callable[[str], None] | None = None


class InProcessBroker:
    """Queues and bindings shared by the in-process buses of one namespace.

    It mirrors the RabbitMQ layout: RPC queues bound by routing key
    (``topic`` or ``topic.server``) and notification queues bound by topic
    pattern.  Queues live as long as the broker, like durable queues.
    """

    _registry: ClassVar[dict[str, InProcessBroker]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, queue.Queue[_Envelope]] = {}
        self._notify_bindings: list[tuple[str, str]] = []

    @classmethod
    def for_namespace(cls, namespace: str) -> InProcessBroker:
        """The process-wide broker of ``namespace`` (created on first use)."""
        with cls._registry_lock:
            broker = cls._registry.get(namespace)
            if broker is None:
                broker = cls._registry[namespace] = cls()
            return broker

    @classmethod
    def discard(cls, namespace: str) -> None:
        """Forget the broker of ``namespace`` (its queued messages are dropped)."""
        with cls._registry_lock:
            cls._registry.pop(namespace, None)

    def rpc_queue(self, routing_key: str) -> queue.Queue[_Envelope]:
        """Declare (if needed) and return the RPC queue bound to ``routing_key``."""
        with self._lock:
            return self._queues.setdefault(f"rpc.{routing_key}", queue.Queue())

    def notification_queue(self, group: str, pattern: str) -> queue.Queue[_Envelope]:
        """Declare (if needed) the queue of ``group`` bound with ``pattern``."""
        name = f"notifications.{group}.{pattern}"
        with self._lock:
            if name not in self._queues:
                self._queues[name] = queue.Queue()
                self._notify_bindings.append((pattern, name))
            return self._queues[name]

    def publish_notification(self, event_type: str, body: str) -> None:
        """Put a notification on every queue whose pattern matches ``event_type``."""
        with self._lock:
            targets = [
                self._queues[name]
                for pattern, name in self._notify_bindings
                if topic_matches(pattern, event_type)
            ]
        for target in targets:
            target.put(_Envelope(body))


class _Waiter:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.body: str | None = None

    def set(self, body: str) -> None:
        self.body = body
        self.event.set()


class InProcessBus(Bus):
    """:class:`Bus` over an :class:`InProcessBroker`; same semantics, no broker process.

    Each ``serve``/``subscribe`` registration gets one consumer thread once
    the bus is started; servers of the same topic (or subscribers of the same
    group and pattern) compete for the messages of one queue.
    """

    def __init__(
        self,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        broker: InProcessBroker | None = None,
        publisher_id: str | None = None,
    ) -> None:
        super().__init__(namespace, publisher_id)
        self.broker = broker or InProcessBroker.for_namespace(namespace)
        self._lock = threading.Lock()
        self._state = "new"
        self._stopping = threading.Event()
        self._consumers: list[tuple[str, queue.Queue[_Envelope], Callable[[_Envelope], None]]] = []
        self._threads: list[threading.Thread] = []
        self._waiters: set[_Waiter] = set()
        self._served: set[tuple[str, str | None]] = set()

    # -- registration -------------------------------------------------

    def serve(self, topic: str, endpoint: object, server: str | None = None) -> None:
        check_name("topic", topic)
        if server is not None:
            check_name("server", server)
        with self._lock:
            self._check_not_stopped()
            if (topic, server) in self._served:
                raise ValueError(f"this bus already serves topic {topic!r} server {server!r}")
            self._served.add((topic, server))

        def handle(env: _Envelope) -> None:
            self._handle_request(topic, endpoint, env)

        self._add_consumer(f"serve-{topic}", self.broker.rpc_queue(topic), handle)
        if server is not None:
            key = rpc_routing_key(topic, server)
            self._add_consumer(f"serve-{key}", self.broker.rpc_queue(key), handle)

    def subscribe(self, pattern: str, handler: NotificationHandler, group: str) -> None:
        if not pattern:
            raise ValueError("pattern must be a non-empty string")
        check_name("group", group)
        with self._lock:
            self._check_not_stopped()

        def handle(env: _Envelope) -> None:
            try:
                notification = Notification.from_dict(decode(env.body))
                handler(notification)
            except Exception:
                LOG.exception("notification handler of group %r failed; message dropped", group)

        self._add_consumer(
            f"notify-{group}-{pattern}", self.broker.notification_queue(group, pattern), handle
        )

    def _add_consumer(
        self, label: str, source: queue.Queue[_Envelope], handle: Callable[[_Envelope], None]
    ) -> None:
        with self._lock:
            self._consumers.append((label, source, handle))
            if self._state == "running":
                self._start_thread(label, source, handle)

    # -- life cycle ---------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self._check_not_stopped()
            if self._state == "running":
                return
            self._state = "running"
            for label, source, handle in self._consumers:
                self._start_thread(label, source, handle)

    def stop(self) -> None:
        with self._lock:
            if self._state == "stopped":
                return
            self._state = "stopped"
            threads = list(self._threads)
            waiters = list(self._waiters)
        self._stopping.set()
        for thread in threads:
            thread.join()
        for waiter in waiters:
            waiter.set(encode({"stopped": True}))

    def _start_thread(
        self, label: str, source: queue.Queue[_Envelope], handle: Callable[[_Envelope], None]
    ) -> None:
        thread = threading.Thread(
            target=self._consume,
            args=(source, handle),
            name=f"{self.thread_prefix}-{label}",
            daemon=True,
        )
        self._threads.append(thread)
        thread.start()

    def _consume(self, source: queue.Queue[_Envelope], handle: Callable[[_Envelope], None]) -> None:
        while not self._stopping.is_set():
            try:
                env = source.get(timeout=_POLL)
            except queue.Empty:
                continue
            if env.expires_at is not None and time.monotonic() > env.expires_at:
                continue
            try:
                handle(env)
            except Exception:  # pragma: no cover - handlers log their own errors
                LOG.exception("in-process consumer failed")

    def _check_not_stopped(self) -> None:
        if self._state == "stopped":
            raise BusError(f"bus {self.bus_id} is stopped")

    # -- RPC ----------------------------------------------------------

    def _handle_request(self, topic: str, endpoint: object, env: _Envelope) -> None:
        request = decode(env.body)
        reply = run_request(endpoint, request)
        if "error" in reply and env.reply is None:
            LOG.error(
                "cast %s.%s failed: %s: %s",
                topic,
                request.get("method"),
                reply["error"]["type"],
                reply["error"]["message"],
            )
        if env.reply is not None:
            env.reply(encode(reply))

    def call(
        self,
        topic: str,
        method: str,
        *,
        timeout: float = DEFAULT_CALL_TIMEOUT,
        server: str | None = None,
        **kwargs: Any,
    ) -> Any:
        check_name("topic", topic)
        body = encode({"method": method, "kwargs": kwargs})
        waiter = _Waiter()
        with self._lock:
            self._check_not_stopped()
            if self._state != "running":
                raise BusError(f"bus {self.bus_id} is not started: call start() before call()")
            self._waiters.add(waiter)
        key = rpc_routing_key(topic, server)
        try:
            deadline = time.monotonic() + timeout
            self.broker.rpc_queue(key).put(_Envelope(body, deadline, waiter.set))
            if not waiter.event.wait(timeout):
                raise BusTimeout(f"no reply to {method!r} on {key!r} within {timeout:g}s")
        finally:
            with self._lock:
                self._waiters.discard(waiter)
        assert waiter.body is not None
        reply = decode(waiter.body)
        if reply.get("stopped"):
            raise BusError(f"bus {self.bus_id} stopped while waiting for {method!r} on {key!r}")
        return reply_value(reply, topic, method)

    def cast(self, topic: str, method: str, *, server: str | None = None, **kwargs: Any) -> None:
        check_name("topic", topic)
        body = encode({"method": method, "kwargs": kwargs})
        with self._lock:
            self._check_not_stopped()
        self.broker.rpc_queue(rpc_routing_key(topic, server)).put(_Envelope(body))

    # -- notifications ------------------------------------------------

    def notify(
        self,
        event_type: str,
        payload: dict[str, Any],
        publisher_id: str | None = None,
        *,
        priority: str = "INFO",
    ) -> None:
        check_name("event_type", event_type)
        notification = Notification(
            event_type=event_type,
            payload=payload,
            publisher_id=publisher_id or self.default_publisher_id,
            priority=priority,
        )
        body = encode(notification.to_dict())
        with self._lock:
            self._check_not_stopped()
        self.broker.publish_notification(event_type, body)
