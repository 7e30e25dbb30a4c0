"""In-process transport: threads and queues inside one Python process.

Used by the all-in-one deployment and by unit tests.  Every message is
JSON-encoded and decoded on the way, so code that works here does not break on
RabbitMQ because of a non-serializable argument.  Buses created with the same
namespace share one :class:`InProcessBroker`, so services that each call
``connect("memory://")`` talk to each other.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from labs.common.bus.base import DEFAULT_NAMESPACE, LOG, Bus
from labs.common.bus.messages import NotificationHandler, rpc_routing_key, topic_matches

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
        self._stopping = threading.Event()
        self._consumers: list[tuple[str, queue.Queue[_Envelope], Callable[[_Envelope], None]]] = []
        self._threads: list[threading.Thread] = []

    # -- registration -------------------------------------------------

    def _add_server(self, topic: str, endpoint: object, server: str | None) -> None:
        def handle(env: _Envelope) -> None:
            _, reply = self._run_request(
                topic, endpoint, env.body, reply_wanted=env.reply is not None
            )
            if env.reply is not None:
                env.reply(reply)

        self._add_consumer(f"serve-{topic}", self.broker.rpc_queue(topic), handle)
        if server is not None:
            key = rpc_routing_key(topic, server)
            self._add_consumer(f"serve-{key}", self.broker.rpc_queue(key), handle)

    def _add_subscriber(self, pattern: str, handler: NotificationHandler, group: str) -> None:
        def handle(env: _Envelope) -> None:
            self._deliver_notification(handler, group, env.body)

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

    # -- sending --------------------------------------------------------

    def _send_call(
        self, routing_key: str, method: str, body: str, correlation_id: str, deadline: float
    ) -> None:
        reply = functools.partial(self._deliver_reply, correlation_id)
        self.broker.rpc_queue(routing_key).put(_Envelope(body, deadline, reply))

    def _send_cast(self, routing_key: str, method: str, body: str) -> None:
        self.broker.rpc_queue(routing_key).put(_Envelope(body))

    def _send_notification(self, event_type: str, body: str) -> None:
        self.broker.publish_notification(event_type, body)

    # -- consumer threads -----------------------------------------------

    def _prepare_start(self) -> None:
        """Nothing to prepare: the broker lives in this process."""

    def _start_consumers(self) -> None:
        for label, source, handle in self._consumers:
            self._start_thread(label, source, handle)

    def _stop_consumers(self) -> None:
        with self._lock:
            threads = list(self._threads)
        self._stopping.set()
        for thread in threads:
            thread.join()

    def _close_transport(self) -> None:
        """Nothing to close: the broker outlives its buses."""

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
            except Exception:
                LOG.exception("bus %s: in-process consumer failed", self.bus_id)
