"""Labs message bus: RPC ``call``/``cast`` and OpenStack-style notifications.

``connect(url)`` gives an :class:`InProcessBus` for ``memory://`` (or an empty
URL) and a :class:`RabbitBus` for ``amqp://...``; see :class:`Bus` for the
delivery guarantees and failure rules both follow.

Example::

    with connect("amqp://guest:guest@127.0.0.1:5672//") as bus:
        bus.serve("compute", ComputeManager(), server="host1")
        bus.cast("compute", "build_instance", server="host1", instance_id=uuid)
        flavor = bus.call("scheduler", "select_destinations", timeout=10, spec=spec)
        bus.notify("compute.instance.create.end", {"instance_id": uuid})
"""

from __future__ import annotations

from typing import Any

from labs.common.bus.base import DEFAULT_CALL_TIMEOUT, DEFAULT_NAMESPACE, Bus
from labs.common.bus.errors import BusError, BusTimeout, BusUnavailable, NoSuchMethod, RemoteError
from labs.common.bus.inprocess import InProcessBroker, InProcessBus
from labs.common.bus.messages import Notification, NotificationHandler, topic_matches

MEMORY_SCHEMES = ("memory", "inprocess")
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


def connect(url: str = "memory://", *, namespace: str = DEFAULT_NAMESPACE, **options: Any) -> Bus:
    """Return a bus for ``url`` (not started).

    ``memory://`` or ``""``: :class:`InProcessBus` (buses of one namespace in
    one process share a broker).  ``amqp://user:password@host:port/vhost``:
    :class:`RabbitBus`; ``options`` are passed to its constructor (retry
    limits, timeouts, worker count...).
    """
    scheme = url.split(":", 1)[0].lower() if url else "memory"
    if scheme in MEMORY_SCHEMES:
        return InProcessBus(namespace, **options)
    if scheme in AMQP_SCHEMES:
        from labs.common.bus.rabbit import RabbitBus

        return RabbitBus(url, namespace, **options)
    raise ValueError(f"unsupported message bus URL {url!r}: use memory:// or amqp://")


__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "DEFAULT_NAMESPACE",
    "Bus",
    "BusError",
    "BusTimeout",
    "BusUnavailable",
    "InProcessBroker",
    "InProcessBus",
    "NoSuchMethod",
    "Notification",
    "NotificationHandler",
    "RemoteError",
    "connect",
    "topic_matches",
]
