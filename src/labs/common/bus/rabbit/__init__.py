"""RabbitMQ transport on kombu, with reconnection.

* :mod:`~labs.common.bus.rabbit.bus`: :class:`RabbitBus`, the exchanges and
  queues it uses, and how requests, replies and notifications map onto them.
* :mod:`~labs.common.bus.rabbit.publisher`: the publishing connection
  (publisher confirms, bounded retries, declarations).
* :mod:`~labs.common.bus.rabbit.consumer`: the consuming connection, owned by a
  background thread that reconnects by itself, and the worker pool.
* :mod:`~labs.common.bus.rabbit.connection`: opening and discarding
  connections, and the retry back-off.
"""

from __future__ import annotations

from labs.common.bus.rabbit.bus import RabbitBus

__all__ = ["RabbitBus"]
