"""Opening and discarding kombu connections to one RabbitMQ, and the retry back-off."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amqp.exceptions import IrrecoverableChannelError
from kombu import connection as _connection
from kombu import entity as _entity
from kombu import messaging as _messaging

from labs.common.bus.base import LOG

# kombu has no type annotations: its objects are handled as Any so that strict
# mypy accepts the calls.
Connection: Any = _connection.Connection
Consumer: Any = _messaging.Consumer
Producer: Any = _messaging.Producer
Exchange: Any = _entity.Exchange
Queue: Any = _entity.Queue
KConnection = Any
KConsumer = Any
KProducer = Any
KExchange = Any
KQueue = Any
Message = Any
Channel = Any


@dataclass(frozen=True)
class Backoff:
    """Pauses between reconnection attempts: ``start``, growing by ``step`` up to ``maximum``."""

    start: float
    step: float
    maximum: float

    def after(self, delay: float) -> float:
        """The pause that follows a pause of ``delay`` seconds."""
        return min(delay + self.step, self.maximum)


class Connector:
    """Makes connections to the RabbitMQ at ``url`` and classifies their errors.

    ``connect_timeout`` bounds one connection attempt, ``socket_timeout`` any
    other blocking socket operation.
    """

    def __init__(self, url: str, *, connect_timeout: float, socket_timeout: float) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.socket_timeout = socket_timeout
        probe = Connection(url)
        #: The URL without its password, for messages.
        self.safe_url: str = probe.as_uri()
        #: Errors after which reconnecting may help.
        self.errors: tuple[type[BaseException], ...] = (
            *probe.connection_errors,
            *probe.channel_errors,
            OSError,
        )
        #: Errors retrying cannot fix (access refused, mismatched declarations).
        self.fatal_errors: tuple[type[BaseException], ...] = (IrrecoverableChannelError,)

    def connection(
        self, *, heartbeat: float, confirm: bool, connect_timeout: float | None = None
    ) -> KConnection:
        """A new connection object, not connected yet (see :meth:`open`)."""
        return Connection(
            self.url,
            connect_timeout=connect_timeout or self.connect_timeout,
            heartbeat=heartbeat,
            transport_options={
                "confirm_publish": confirm,
                "read_timeout": self.socket_timeout,
                "write_timeout": self.socket_timeout,
            },
        )

    @staticmethod
    def open(conn: KConnection) -> None:
        """Connect once (``Connection.connect`` would retry after sleeping 2s)."""
        conn.ensure_connection(max_retries=0, reraise_as_library_errors=False)

    @staticmethod
    def drop(conn: KConnection | None, *, graceful: bool) -> None:
        """Close ``conn``; after an error, without network I/O (it may hang)."""
        if conn is None:
            return
        try:
            if graceful:
                conn.release()
            else:
                conn.collect()
        except Exception:
            try:
                conn.collect()
            except Exception:
                LOG.debug("ignoring error while discarding a connection", exc_info=True)


__all__ = [
    "Backoff",
    "Channel",
    "Connection",
    "Connector",
    "Consumer",
    "Exchange",
    "KConnection",
    "KConsumer",
    "KExchange",
    "KProducer",
    "KQueue",
    "Message",
    "Producer",
    "Queue",
]
