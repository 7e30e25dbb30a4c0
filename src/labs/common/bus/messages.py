"""What travels on the bus: message bodies, notifications, names and RPC requests.

Pure functions and data, shared by every transport: JSON encoding, name
checks, topic matching, and running a request against an endpoint.
"""

from __future__ import annotations

import datetime
import functools
import json
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from labs.common.bus.errors import NoSuchMethod, RemoteError


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


__all__ = [
    "Notification",
    "NotificationHandler",
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
