"""Where the message bus is (section ``[bus]`` of labs.conf, or ``LABS_BUS_URL``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from labs.common.config import option


@dataclass(frozen=True)
class BusOptions:
    section: ClassVar[str] = "bus"
    url: str = option("", "empty (or memory://): one process; amqp://user:password@host:5672// "
                      "for RabbitMQ, which services in several processes need")
    namespace: str = option("labs", "exchange and queue prefix: clouds sharing one RabbitMQ "
                            "need different ones")
