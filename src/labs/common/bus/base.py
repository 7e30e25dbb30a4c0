"""Transport-independent part of the Labs message bus: the :class:`Bus` class.

The bus carries three kinds of traffic between Labs services:

* **RPC calls** (:meth:`Bus.call`): a request to one server listening on a
  *topic* (or on ``topic.server`` to reach one host), waiting for the result.
* **RPC casts** (:meth:`Bus.cast`): the same request without waiting for a
  result.  Casts are durable and delivered *at least once*.
* **Notifications** (:meth:`Bus.notify` / :meth:`Bus.subscribe`): OpenStack
  style events (``compute.instance.create.end`` ...) published on a topic
  exchange and consumed by *groups*; every group gets each notification once.

:class:`Bus` does everything that does not depend on the transport: checking
names, encoding messages, the life cycle, waiting for replies.  A transport
(:class:`~labs.common.bus.inprocess.InProcessBus`, threads and queues in one
process; :class:`~labs.common.bus.rabbit.RabbitBus`, RabbitMQ through kombu)
implements the ``_send_*``, ``_add_*`` and consumer hooks.  Both have the same
semantics; the contract tests in ``tests/common/test_bus.py`` run against both.
"""

from __future__ import annotations

import abc
import itertools
import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

from labs.common.bus.errors import BusError, BusTimeout
from labs.common.bus.messages import (
    Notification,
    NotificationHandler,
    check_name,
    decode,
    encode,
    reply_value,
    rpc_routing_key,
    run_request,
)
from labs.common.bus.replies import PendingCalls

LOG = logging.getLogger("labs.bus")

DEFAULT_NAMESPACE = "labs"
DEFAULT_CALL_TIMEOUT = 30.0

_bus_ids = itertools.count(1)


class Bus(abc.ABC):
    """A message bus for RPC and notifications.

    Delivery guarantees
        * ``cast`` and ``notify`` are *at least once*: when they return, the
          message is held by the transport (for RabbitMQ: confirmed by the broker,
          persistent, in a durable queue) and will be delivered even if
          connections drop or consumers restart.  A consumer acknowledges a
          message only after the endpoint method or handler has returned, so a
          message may be delivered twice after a failure: handlers should be
          idempotent.  Messages are not guaranteed to arrive in order.
        * A cast to a topic nobody serves yet waits in that topic's queue (the
          caster declares it).  A notification is kept only for the groups that
          have subscribed before it was published (a subscription is durable:
          it keeps collecting while its consumers are down).
        * ``call`` waits at most ``timeout`` seconds.  The request expires after
          ``timeout`` so a late server does not run a call nobody waits for.

    Failure rules
        * The remote method raised: ``call`` raises :class:`RemoteError` (the
          remote exception's class name and message).  A cast or a notification
          handler that raises is logged and *not* redelivered.
        * No reply in time: :class:`BusTimeout`.
        * Transport unreachable after the configured retries (or, for ``call``,
          past its timeout): :class:`BusUnavailable`; the message was not sent.
        * Arguments, results and payloads must be JSON-serializable
          (``TypeError`` otherwise, raised by the sender; a non-serializable
          result reaches the caller as a :class:`RemoteError`).
        * Using a stopped bus raises :class:`BusError`; ``call`` needs a started
          bus (its replies are consumed by the bus's background thread).

    Life cycle: ``serve``/``subscribe`` may be used before or after ``start``;
    consumers run in background threads from ``start`` until ``stop``.  A
    stopped bus cannot be started again.  The bus is a context manager
    (``with connect(url) as bus: ...`` starts and stops it).
    """

    def __init__(self, namespace: str = DEFAULT_NAMESPACE, publisher_id: str | None = None) -> None:
        check_name("namespace", namespace)
        self.namespace = namespace
        self.bus_id = f"{namespace}-{next(_bus_ids)}"
        self.default_publisher_id = publisher_id or f"{namespace}.{socket.gethostname()}"
        self._lock = threading.Lock()
        self._state = "new"  # then "running", then "stopped"
        self._served: set[tuple[str, str | None]] = set()
        self._pending_calls = PendingCalls()

    @property
    def thread_prefix(self) -> str:
        """Prefix of the names of every thread this bus starts."""
        return f"labs-bus-{self.bus_id}"

    # -- the public interface ---------------------------------------------

    def serve(self, topic: str, endpoint: object, server: str | None = None) -> None:
        """Serve ``endpoint``'s public methods on ``topic`` (and ``topic.server``).

        Requests on ``topic`` are shared among every server of the topic (each
        handled once); requests on ``topic.server`` reach only this one.  A
        request runs ``endpoint.method(**kwargs)``.  Once ``serve`` returns the
        queues exist, so casts sent afterwards are kept until they are handled.
        """
        check_name("topic", topic)
        if server is not None:
            check_name("server", server)
        with self._lock:
            self._check_not_stopped()
            if (topic, server) in self._served:
                raise ValueError(f"this bus already serves topic {topic!r} server {server!r}")
            self._served.add((topic, server))
        try:
            self._add_server(topic, endpoint, server)
        except BaseException:
            with self._lock:
                self._served.discard((topic, server))
            raise

    def call(
        self,
        topic: str,
        method: str,
        *,
        timeout: float = DEFAULT_CALL_TIMEOUT,
        server: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run ``method(**kwargs)`` on a server of ``topic`` and return its result.

        Raises :class:`BusTimeout` if no reply arrives within ``timeout``
        seconds, :class:`RemoteError` if the method raised, and
        :class:`BusUnavailable` if the request could not be sent in time.
        """
        check_name("topic", topic)
        body = encode({"method": method, "kwargs": kwargs})
        key = rpc_routing_key(topic, server)
        sent_at = time.monotonic()
        deadline = sent_at + timeout
        # Registered before the state check, so that a concurrent stop() wakes it.
        correlation_id, waiter = self._pending_calls.expect()
        try:
            with self._lock:
                self._check_not_stopped()
                if self._state != "running":
                    raise BusError(f"bus {self.bus_id} is not started: call start() before call()")
            self._send_call(key, method, body, correlation_id, deadline)
            if not waiter.wait(deadline - time.monotonic()):
                note = self._timeout_note(sent_at)
                raise BusTimeout(f"no reply to {method!r} on {key!r} within {timeout:g}s{note}")
        finally:
            self._pending_calls.forget(correlation_id)
        reply = waiter.reply()
        if reply is None:
            raise BusError(f"bus {self.bus_id} stopped while waiting for {method!r} on {key!r}")
        return reply_value(reply, topic, method)

    def cast(self, topic: str, method: str, *, server: str | None = None, **kwargs: Any) -> None:
        """Send ``method(**kwargs)`` to a server of ``topic`` without waiting.

        When ``cast`` returns, the message is durably held by the transport and
        will be delivered at least once.  Raises :class:`BusUnavailable` when the
        transport stays unreachable through the configured retries.
        """
        check_name("topic", topic)
        body = encode({"method": method, "kwargs": kwargs})
        with self._lock:
            self._check_not_stopped()
        self._send_cast(rpc_routing_key(topic, server), method, body)

    def notify(
        self,
        event_type: str,
        payload: dict[str, Any],
        publisher_id: str | None = None,
        *,
        priority: str = "INFO",
    ) -> None:
        """Publish a notification (routing key ``event_type``) durably.

        ``publisher_id`` defaults to the bus's ``default_publisher_id``.
        """
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
        self._send_notification(event_type, body)

    def subscribe(self, pattern: str, handler: NotificationHandler, group: str) -> None:
        """Have ``handler`` receive notifications whose event type matches ``pattern``.

        ``pattern`` is an AMQP topic pattern (``compute.instance.*``, ``#``).
        Subscribers with the same ``group`` and ``pattern`` share one durable
        queue, so each notification is handled once per group.
        """
        if not pattern:
            raise ValueError("pattern must be a non-empty string")
        check_name("group", group)
        with self._lock:
            self._check_not_stopped()
        self._add_subscriber(pattern, handler, group)

    def start(self) -> None:
        """Start the background consumers.

        Raises :class:`BusUnavailable` if the transport cannot be reached.
        """
        with self._lock:
            self._check_not_stopped()
            if self._state == "running":
                return
        self._prepare_start()
        with self._lock:
            self._check_not_stopped()
            if self._state == "running":
                return
            self._state = "running"
            self._start_consumers()

    def stop(self) -> None:
        """Stop consuming, let running handlers finish, and join every thread.

        Calls still waiting fail with :class:`BusError`.  Messages not yet
        acknowledged stay in their queues for the next consumer.
        """
        with self._lock:
            if self._state == "stopped":
                return
            self._state = "stopped"
        self._stop_consumers()
        self._pending_calls.stop_all()
        self._close_transport()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- for the transports: handling what arrives ----------------------------

    def _check_not_stopped(self) -> None:
        """Raise :class:`BusError` if the bus is stopped (call with ``_lock`` held)."""
        if self._state == "stopped":
            raise BusError(f"bus {self.bus_id} is stopped")

    def _run_request(
        self, topic: str, endpoint: object, body: str | bytes, *, reply_wanted: bool
    ) -> tuple[str, str]:
        """Run one request on ``endpoint``; return its method name and encoded reply.

        The error of a cast (no reply wanted) is logged here: nobody else sees it.
        """
        request = decode(body)
        reply = run_request(endpoint, request)
        method = str(request.get("method"))
        if "error" in reply and not reply_wanted:
            LOG.error(
                "bus %s: cast %s.%s failed: %s: %s",
                self.bus_id,
                topic,
                method,
                reply["error"]["type"],
                reply["error"]["message"],
            )
        return method, encode(reply)

    def _deliver_reply(self, correlation_id: str, body: str | bytes) -> None:
        """Hand a reply to the call waiting for it (late or duplicate replies are dropped)."""
        if not self._pending_calls.deliver(correlation_id, body):
            LOG.debug("bus %s: discarding late or duplicate reply %s", self.bus_id, correlation_id)

    def _deliver_notification(
        self, handler: NotificationHandler, group: str, body: str | bytes
    ) -> None:
        """Decode a notification and run ``handler`` on it; a failure is logged, not raised."""
        try:
            handler(Notification.from_dict(decode(body)))
        except Exception:
            LOG.exception(
                "bus %s: notification handler of group %r failed; message dropped",
                self.bus_id,
                group,
            )

    # -- what a transport implements ------------------------------------------

    @abc.abstractmethod
    def _add_server(self, topic: str, endpoint: object, server: str | None) -> None:
        """Create the request queues of ``topic`` (and ``topic.server``) and consume them.

        Each request is run with :meth:`_run_request`.
        """

    @abc.abstractmethod
    def _add_subscriber(self, pattern: str, handler: NotificationHandler, group: str) -> None:
        """Create the queue of ``group`` bound with ``pattern`` and consume it.

        Each notification is handled with :meth:`_deliver_notification`.
        """

    @abc.abstractmethod
    def _send_call(
        self, routing_key: str, method: str, body: str, correlation_id: str, deadline: float
    ) -> None:
        """Send a call's request; its reply must reach :meth:`_deliver_reply`.

        Sending gives up, and the request expires, at ``deadline`` (a
        :func:`time.monotonic` value).
        """

    @abc.abstractmethod
    def _send_cast(self, routing_key: str, method: str, body: str) -> None:
        """Send a cast's request durably, creating its queue if nobody serves it yet."""

    @abc.abstractmethod
    def _send_notification(self, event_type: str, body: str) -> None:
        """Publish an encoded notification with routing key ``event_type``."""

    @abc.abstractmethod
    def _prepare_start(self) -> None:
        """Work ``start`` does before the bus runs (called without ``_lock``)."""

    @abc.abstractmethod
    def _start_consumers(self) -> None:
        """Start the background consumers (called once, with ``_lock`` held)."""

    @abc.abstractmethod
    def _stop_consumers(self) -> None:
        """Stop the consumers, let running handlers finish, and join every thread."""

    @abc.abstractmethod
    def _close_transport(self) -> None:
        """Release what the transport still holds, last thing in ``stop``."""

    def _timeout_note(self, since: float) -> str:
        """Words added to a :class:`BusTimeout` for a call sent at ``since`` (default: none)."""
        return ""


__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "DEFAULT_NAMESPACE",
    "LOG",
    "Bus",
]
