"""RabbitBus: the :class:`Bus` hooks over RabbitMQ, on a publisher and a background consumer.

Layout (every name starts with the bus *namespace*, default ``labs``):

* ``<ns>_rpc``: durable direct exchange for requests.  A server of ``topic``
  consumes the durable queue ``<ns>.rpc.<topic>`` (shared by all servers of the
  topic) and, when it has a server name, ``<ns>.rpc.<topic>.<server>``.
* ``<ns>_notifications``: durable topic exchange; routing key = event type.
  A subscription consumes ``<ns>.notifications.<group>.<pattern>``.
* ``<ns>.reply.<uuid>``: this bus's reply queue (durable so that it outlives a
  connection cut, ``x-expires`` so that a crashed process's queue goes away).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from labs.common.bus.base import DEFAULT_NAMESPACE, LOG, Bus
from labs.common.bus.errors import BusError
from labs.common.bus.messages import NotificationHandler, rpc_routing_key
from labs.common.bus.rabbit.connection import (
    Backoff,
    Connector,
    Exchange,
    KExchange,
    KQueue,
    Message,
    Queue,
)
from labs.common.bus.rabbit.consumer import BackgroundConsumer
from labs.common.bus.rabbit.publisher import Publisher


class RabbitBus(Bus):
    """:class:`Bus` over RabbitMQ (kombu/py-amqp).

    Reconnection: publishing retries up to ``max_retries`` times with a back-off
    of ``interval_start`` growing by ``interval_step`` up to ``interval_max``
    seconds, then raises :class:`BusUnavailable` (for ``call``, retries stop at
    the call's deadline).  The consumer thread reconnects without limit until
    the bus is stopped.  Reconnects are logged at WARNING on ``labs.bus``.

    Calls in flight across a connection cut either get their reply (requests
    and replies sit in durable queues) or raise :class:`BusTimeout`; they never
    wait longer than their timeout.

    Options: ``connect_timeout`` bounds one connection attempt,
    ``confirm_timeout`` the wait for a publisher confirm, ``socket_timeout``
    any other blocking socket operation; ``heartbeat`` is the AMQP heartbeat
    of the consuming connection; ``workers`` threads run endpoint methods and
    handlers, with ``prefetch_count`` (default ``2 * workers``) unacknowledged
    messages per consumer; ``reply_queue_expires`` is how long the broker keeps
    the reply queue of a process that died; ``stop_timeout`` is how long
    ``stop`` waits for running methods.

    ``consumer_connected`` is an event set while the consumer thread is
    connected; :meth:`delete_declared` removes this bus's queues and exchanges.
    """

    def __init__(
        self,
        url: str,
        namespace: str = DEFAULT_NAMESPACE,
        *,
        publisher_id: str | None = None,
        max_retries: int = 8,
        interval_start: float = 0.2,
        interval_step: float = 0.5,
        interval_max: float = 3.0,
        connect_timeout: float = 5.0,
        confirm_timeout: float = 15.0,
        socket_timeout: float = 20.0,
        heartbeat: float = 20.0,
        workers: int = 8,
        prefetch_count: int | None = None,
        poll_interval: float = 0.05,
        reply_queue_expires: float = 600.0,
        stop_timeout: float = 10.0,
    ) -> None:
        super().__init__(namespace, publisher_id)
        self.url = url
        connector = Connector(url, connect_timeout=connect_timeout, socket_timeout=socket_timeout)
        self.safe_url = connector.safe_url
        self.rpc_exchange = Exchange(f"{namespace}_rpc", type="direct", durable=True)
        self.notification_exchange = Exchange(
            f"{namespace}_notifications", type="topic", durable=True
        )
        self.reply_queue = Queue(
            f"{namespace}.reply.{uuid.uuid4().hex}",
            durable=True,
            auto_delete=False,
            queue_arguments={"x-expires": int(reply_queue_expires * 1000)},
        )
        backoff = Backoff(interval_start, interval_step, interval_max)
        self._publisher = Publisher(
            connector,
            backoff,
            bus_id=self.bus_id,
            exchanges=(self.rpc_exchange, self.notification_exchange),
            max_retries=max_retries,
            confirm_timeout=confirm_timeout,
        )
        self._consumer = BackgroundConsumer(
            connector,
            backoff,
            bus_id=self.bus_id,
            thread_prefix=self.thread_prefix,
            workers=workers,
            prefetch_count=prefetch_count or 2 * workers,
            heartbeat=heartbeat,
            poll_interval=poll_interval,
            stop_timeout=stop_timeout,
        )
        self.consumer_connected = self._consumer.connected

    def delete_declared(self) -> None:
        """Delete every queue and exchange this bus has declared (messages in them are lost).

        Meant for tests and for decommissioning a namespace; works on a stopped bus.
        """
        self._publisher.delete_declared()

    # -- queues -------------------------------------------------------------

    @staticmethod
    def _durable_queue(name: str, exchange: KExchange, routing_key: str) -> KQueue:
        return Queue(
            name, exchange=exchange, routing_key=routing_key, durable=True, auto_delete=False
        )

    def _rpc_queue(self, routing_key: str) -> KQueue:
        name = f"{self.namespace}.rpc.{routing_key}"
        return self._durable_queue(name, self.rpc_exchange, routing_key)

    def _notification_queue(self, group: str, pattern: str) -> KQueue:
        name = f"{self.namespace}.notifications.{group}.{pattern}"
        return self._durable_queue(name, self.notification_exchange, pattern)

    def _consume(self, queues: list[KQueue], on_message: Callable[[Message], None]) -> None:
        with self._lock:
            self._check_not_stopped()
            self._consumer.add(queues, on_message, no_ack=False)

    def _add_server(self, topic: str, endpoint: object, server: str | None) -> None:
        queues = [self._rpc_queue(topic)]
        if server is not None:
            queues.append(self._rpc_queue(rpc_routing_key(topic, server)))
        self._publisher.declare(f"declaring the queues of topic {topic!r}", queues)

        def on_message(message: Message) -> None:
            self._serve_message(topic, endpoint, message)

        self._consume(queues, on_message)

    def _add_subscriber(self, pattern: str, handler: NotificationHandler, group: str) -> None:
        q = self._notification_queue(group, pattern)
        self._publisher.declare(f"declaring the notification queue of group {group!r}", [q])

        def on_message(message: Message) -> None:
            self._deliver_notification(handler, group, message.body)

        self._consume([q], on_message)

    # -- RPC and notifications ----------------------------------------------

    def _serve_message(self, topic: str, endpoint: object, message: Message) -> None:
        reply_to = message.properties.get("reply_to")
        method, reply = self._run_request(
            topic, endpoint, message.body, reply_wanted=bool(reply_to)
        )
        if not reply_to:
            return
        try:
            self._publisher.publish(
                f"reply to {topic}.{method}",
                reply,
                exchange=None,
                routing_key=reply_to,
                persistent=False,
                correlation_id=message.properties.get("correlation_id"),
            )
        except BusError as exc:
            LOG.error("bus %s: reply to %s.%s lost: %s", self.bus_id, topic, method, exc)

    def _on_reply(self, message: Message) -> None:
        self._deliver_reply(message.properties.get("correlation_id"), message.body)

    def _send_call(
        self, routing_key: str, method: str, body: str, correlation_id: str, deadline: float
    ) -> None:
        self._publisher.publish(
            f"call {method!r} on {routing_key!r}",
            body,
            exchange=self.rpc_exchange,
            routing_key=routing_key,
            deadline=deadline,
            reply_to=self.reply_queue.name,
            correlation_id=correlation_id,
            expiration=max(deadline - time.monotonic(), 0.001),
        )

    def _timeout_note(self, since: float) -> str:
        if self._consumer.lost_connection_since(since):
            return " (the connection to RabbitMQ was lost and re-established meanwhile)"
        return ""

    def _send_cast(self, routing_key: str, method: str, body: str) -> None:
        self._publisher.publish(
            f"cast {method!r} on {routing_key!r}",
            body,
            exchange=self.rpc_exchange,
            routing_key=routing_key,
            declare=[self._rpc_queue(routing_key)],
        )

    def _send_notification(self, event_type: str, body: str) -> None:
        self._publisher.publish(
            f"notification {event_type!r}",
            body,
            exchange=self.notification_exchange,
            routing_key=event_type,
        )

    # -- life cycle ---------------------------------------------------------

    def _prepare_start(self) -> None:
        self._publisher.declare("declaring the reply queue", [self.reply_queue])

    def _start_consumers(self) -> None:
        self._consumer.add([self.reply_queue], self._on_reply, no_ack=True)
        self._consumer.start()

    def _stop_consumers(self) -> None:
        self._consumer.stop()

    def _close_transport(self) -> None:
        if self._consumer.started:
            try:
                self._publisher.delete_queue("deleting the reply queue", self.reply_queue.name)
            except BusError as exc:
                LOG.info("bus %s: reply queue left to expire: %s", self.bus_id, exc)
        self._publisher.close()


__all__ = ["RabbitBus"]
