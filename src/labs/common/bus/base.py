"""Transport-independent part of the Labs message bus.

The bus carries three kinds of traffic between Labs services:

* **RPC calls** (:meth:`Bus.call`): a request to one server listening on a
  *topic* (or on ``topic.server`` to reach one host), waiting for the result.
* **RPC casts** (:meth:`Bus.cast`): the same request without waiting for a
  result.  Casts are durable and delivered *at least once*.
* **Notifications** (:meth:`Bus.notify` / :meth:`Bus.subscribe`): OpenStack
  style events (``compute.instance.create.end`` ...) published on a topic
  exchange and consumed by *groups*; every group gets each notification once.

Two transports implement :class:`Bus`: :class:`~labs.common.bus.inprocess.InProcessBus`
(threads and queues in one process, for the all-in-one) and
:class:`~labs.common.bus.rabbit.RabbitBus` (RabbitMQ through kombu, for
distributed runs).  Both have the same semantics; the contract tests in
``tests/common/test_bus.py`` run against both.
"""

from __future__ import annotations

import abc
import datetime
import functools
import itertools
import json
import logging
import socket
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

LOG = logging.getLogger("labs.bus")

DEFAULT_NAMESPACE = "labs"
DEFAULT_CALL_TIMEOUT = 30.0

_bus_ids = itertools.count(1)


class BusError(Exception):
    """Base class of every error raised by the bus."""


class BusTimeout(BusError):
    """No reply to an RPC call arrived within its timeout."""


class BusUnavailable(BusError):
    """The transport could not be reached (after retrying) so nothing was sent."""


class NoSuchMethod(BusError):
    """Raised on the server when a request names a method the endpoint lacks.

    The caller sees it as a :class:`RemoteError` whose ``exc_type`` is
    ``"NoSuchMethod"``.
    """


class RemoteError(BusError):
    """The remote method raised; carries the remote exception's class name and message."""

    def __init__(
        self,
        exc_type: str,
        message: str,
        *,
        topic: str = "",
        method: str = "",
        remote_traceback: str | None = None,
    ) -> None:
        self.exc_type = exc_type
        self.remote_message = message
        self.topic = topic
        self.method = method
        self.remote_traceback = remote_traceback
        where = f" (in {topic}.{method})" if topic or method else ""
        super().__init__(f"{exc_type}: {message}{where}")


@dataclass(frozen=True)
class Notification:
    """An OpenStack-style notification, as published and as handed to subscribers."""

    event_type: str
    payload: dict[str, Any]
    publisher_id: str
    priority: str = "INFO"
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timestamp: str = field(default_factory=lambda: utc_timestamp())

    def to_dict(self) -> dict[str, Any]:
        """Return the wire form (the keys oslo.messaging notifications carry)."""
        return {
            "event_type": self.event_type,
            "payload": self.payload,
            "publisher_id": self.publisher_id,
            "priority": self.priority,
            "message_id": self.message_id,
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notification:
        """Build a notification from its wire form."""
        return cls(
            event_type=str(data["event_type"]),
            payload=dict(data.get("payload") or {}),
            publisher_id=str(data.get("publisher_id", "")),
            priority=str(data.get("priority", "INFO")),
            message_id=str(data.get("message_id", "")),
            timestamp=str(data.get("timestamp", "")),
        )


NotificationHandler = Callable[[Notification], None]


def utc_timestamp() -> str:
    """Current UTC time in the format OpenStack notifications use."""
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return now.strftime("%Y-%m-%d %H:%M:%S.%f")


def encode(data: Any) -> str:
    """Serialize a message body; raises ``TypeError`` for non-JSON data."""
    try:
        return json.dumps(data, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"bus messages must be JSON-serializable: {exc}") from exc


def decode(raw: str | bytes) -> dict[str, Any]:
    """Parse a message body produced by :func:`encode`."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("bus message body is not a JSON object")
    return data


def check_name(kind: str, value: str) -> None:
    """Reject empty names and names AMQP would treat as patterns."""
    if not value or not isinstance(value, str):
        raise ValueError(f"{kind} must be a non-empty string")
    if any(c in value for c in "*# "):
        raise ValueError(f"{kind} {value!r} must not contain '*', '#' or spaces")


def rpc_routing_key(topic: str, server: str | None) -> str:
    """Routing key of a request: ``topic`` or ``topic.server``."""
    return topic if server is None else f"{topic}.{server}"


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic-exchange matching: ``*`` is one word, ``#`` zero or more words."""
    pwords = pattern.split(".")
    kwords = key.split(".")

    @functools.cache
    def match(i: int, j: int) -> bool:
        if i == len(pwords):
            return j == len(kwords)
        if pwords[i] == "#":
            return match(i + 1, j) or (j < len(kwords) and match(i, j + 1))
        if j == len(kwords):
            return False
        return pwords[i] in ("*", kwords[j]) and match(i + 1, j + 1)

    return match(0, 0)


def dispatch(endpoint: object, method: str, kwargs: Mapping[str, Any]) -> Any:
    """Call ``endpoint.method(**kwargs)``; only public callables may be called."""
    target = None if method.startswith("_") else getattr(endpoint, method, None)
    if target is None or not callable(target):
        raise NoSuchMethod(f"endpoint {type(endpoint).__name__} has no public method {method!r}")
    return target(**kwargs)


def run_request(endpoint: object, request: Mapping[str, Any]) -> dict[str, Any]:
    """Run one RPC request against ``endpoint`` and return the reply body.

    The reply is ``{"result": ...}`` or ``{"error": {"type", "message", "traceback"}}``;
    a result that is not JSON-serializable becomes an error too.
    """
    method = str(request.get("method", ""))
    kwargs = request.get("kwargs") or {}
    try:
        result = dispatch(endpoint, method, kwargs)
        encode(result)
    except Exception as exc:
        return {
            "error": {
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": traceback.format_exc(),
            }
        }
    return {"result": result}


def reply_value(reply: Mapping[str, Any], topic: str, method: str) -> Any:
    """Turn a reply body into the call's return value or a :class:`RemoteError`."""
    error = reply.get("error")
    if error is not None:
        raise RemoteError(
            str(error.get("type", "Exception")),
            str(error.get("message", "")),
            topic=topic,
            method=method,
            remote_traceback=error.get("traceback"),
        )
    return reply.get("result")


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

    @property
    def thread_prefix(self) -> str:
        """Prefix of the names of every thread this bus starts."""
        return f"labs-bus-{self.bus_id}"

    @abc.abstractmethod
    def serve(self, topic: str, endpoint: object, server: str | None = None) -> None:
        """Serve ``endpoint``'s public methods on ``topic`` (and ``topic.server``).

        Requests on ``topic`` are shared among every server of the topic (each
        handled once); requests on ``topic.server`` reach only this one.  A
        request runs ``endpoint.method(**kwargs)``.  Once ``serve`` returns the
        queues exist, so casts sent afterwards are kept until they are handled.
        """

    @abc.abstractmethod
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

    @abc.abstractmethod
    def cast(self, topic: str, method: str, *, server: str | None = None, **kwargs: Any) -> None:
        """Send ``method(**kwargs)`` to a server of ``topic`` without waiting.

        When ``cast`` returns, the message is durably held by the transport and
        will be delivered at least once.  Raises :class:`BusUnavailable` when the
        transport stays unreachable through the configured retries.
        """

    @abc.abstractmethod
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

    @abc.abstractmethod
    def subscribe(self, pattern: str, handler: NotificationHandler, group: str) -> None:
        """Have ``handler`` receive notifications whose event type matches ``pattern``.

        ``pattern`` is an AMQP topic pattern (``compute.instance.*``, ``#``).
        Subscribers with the same ``group`` and ``pattern`` share one durable
        queue, so each notification is handled once per group.
        """

    @abc.abstractmethod
    def start(self) -> None:
        """Start the background consumers."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop consuming, let running handlers finish, and join every thread.

        Calls still waiting fail with :class:`BusError`.  Messages not yet
        acknowledged stay in their queues for the next consumer.
        """

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


__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "DEFAULT_NAMESPACE",
    "LOG",
    "Bus",
    "BusError",
    "BusTimeout",
    "BusUnavailable",
    "NoSuchMethod",
    "Notification",
    "NotificationHandler",
    "RemoteError",
    "check_name",
    "decode",
    "dispatch",
    "encode",
    "reply_value",
    "rpc_routing_key",
    "run_request",
    "topic_matches",
    "utc_timestamp",
]
