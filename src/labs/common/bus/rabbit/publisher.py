"""The publishing side of a RabbitBus: one confirmed connection, retried on failure.

Every thread of the bus publishes through one connection with publisher
confirms, used under a lock and re-opened on failure with bounded back-off.
The publisher also declares queues and exchanges, and remembers every one it
declared so that :meth:`Publisher.delete_declared` can remove them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from labs.common.bus.base import LOG
from labs.common.bus.errors import BusError, BusUnavailable
from labs.common.bus.rabbit.connection import (
    Backoff,
    Channel,
    Connector,
    KConnection,
    KExchange,
    KProducer,
    KQueue,
    Producer,
    Queue,
)


class Publisher:
    """Publishes and declares on RabbitMQ for the bus ``bus_id``.

    An operation is retried up to ``max_retries`` times with ``backoff`` pauses,
    then raises :class:`BusUnavailable`; ``confirm_timeout`` bounds the wait for
    a publisher confirm.  ``exchanges`` are declared on every new connection.
    """

    def __init__(
        self,
        connector: Connector,
        backoff: Backoff,
        *,
        bus_id: str,
        exchanges: Iterable[KExchange],
        max_retries: int,
        confirm_timeout: float,
    ) -> None:
        self.connector = connector
        self.backoff = backoff
        self.bus_id = bus_id
        self.exchanges = list(exchanges)
        self.max_retries = max_retries
        self.confirm_timeout = confirm_timeout
        self._lock = threading.Lock()  # held while the connection is used
        self._conn: KConnection | None = None
        self._producer: KProducer | None = None
        self._on_channel: set[str] = set()  # names declared on the current channel
        self._closed = False
        self._down_since: float | None = None
        self._declared_lock = threading.Lock()
        self._declared_queues: set[str] = set()
        self._declared_exchanges: set[str] = set()

    # -- operations ---------------------------------------------------------

    def publish(
        self,
        what: str,
        body: str,
        *,
        exchange: KExchange | None,
        routing_key: str,
        declare: Iterable[KQueue] = (),
        deadline: float | None = None,
        persistent: bool = True,
        **properties: Any,
    ) -> None:
        """Publish ``body`` and wait for the broker's confirm, declaring ``declare`` first.

        ``what`` names the message in errors and logs; ``deadline`` (a
        :func:`time.monotonic` value) stops the retries early.
        """
        declare = list(declare)

        def action(producer: KProducer) -> None:
            self._declare_on(producer.channel, *declare)
            confirm_timeout = self.confirm_timeout
            if deadline is not None:
                confirm_timeout = max(0.01, min(confirm_timeout, deadline - time.monotonic()))
            producer.publish(
                body,
                exchange=exchange.name if exchange is not None else "",
                routing_key=routing_key,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2 if persistent else 1,
                confirm_timeout=confirm_timeout,
                **properties,
            )

        self._retrying(what, action, deadline=deadline)

    def declare(self, what: str, entities: Iterable[KQueue]) -> None:
        """Declare ``entities`` (queues, with their exchanges) on the broker."""
        entities = list(entities)
        self._retrying(what, lambda producer: self._declare_on(producer.channel, *entities))

    def delete_queue(self, what: str, name: str) -> None:
        """Delete the queue ``name``, trying once; raises :class:`BusError` on failure."""
        self._retrying(what, lambda producer: producer.channel.queue_delete(name), max_retries=0)
        with self._declared_lock:
            self._declared_queues.discard(name)

    def close(self) -> None:
        """Close the connection; later operations raise :class:`BusError`."""
        with self._lock:
            self._reset(graceful=True)
            self._closed = True

    def delete_declared(self) -> None:
        """Delete every queue and exchange declared so far (messages in them are lost)."""
        with self._declared_lock:
            queues = sorted(self._declared_queues)
            exchanges = sorted(self._declared_exchanges)
        conn = self.connector.connection(heartbeat=0, confirm=False)
        try:
            self.connector.open(conn)
            channel = conn.channel()
            for name in queues:
                channel.queue_delete(name)
            for name in exchanges:
                channel.exchange_delete(name)
        except self.connector.errors as exc:
            self.connector.drop(conn, graceful=False)
            raise BusUnavailable(
                f"could not delete entities on {self.connector.safe_url}: {exc}"
            ) from exc
        self.connector.drop(conn, graceful=True)
        with self._declared_lock:
            self._declared_queues.clear()
            self._declared_exchanges.clear()

    # -- the connection -----------------------------------------------------

    def _retrying(
        self,
        what: str,
        action: Callable[[KProducer], None],
        *,
        deadline: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        """Run ``action`` on the publishing connection, reconnecting and retrying.

        Raises :class:`BusUnavailable` once ``max_retries`` retries (or the
        ``deadline``) are used up, and :class:`BusError` at once for errors that
        retrying cannot fix (access refused, mismatched declarations).
        """
        retries = self.max_retries if max_retries is None else max_retries
        safe_url = self.connector.safe_url
        started = time.monotonic()
        delay = self.backoff.start
        attempt = 0
        last: BaseException | None = None
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            if not self._lock.acquire(timeout=-1 if remaining is None else remaining):
                break
            try:
                failed = self._send_once(what, action, deadline)
            finally:
                self._lock.release()
            if failed is None:
                return
            last = failed
            attempt += 1
            if attempt > retries:
                break
            pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            LOG.warning("bus %s: %s failed (%s: %s); reconnecting to %s in %.2fs (retry %d/%d)",
                        self.bus_id, what, type(last).__name__, last, safe_url, pause, attempt,
                        retries)
            time.sleep(pause)
            delay = self.backoff.after(delay)
        reason = f"{type(last).__name__}: {last}" if last is not None else "publisher busy"
        limit = f"after {attempt} attempts"
        if deadline is not None:
            limit = "before the call's deadline"
        raise BusUnavailable(
            f"RabbitMQ at {safe_url} is unavailable: {what} could not be sent {limit} "
            f"({time.monotonic() - started:.1f}s); last error: {reason}"
        ) from last

    def _send_once(self, what: str, action: Callable[[KProducer], None],
                   deadline: float | None) -> BaseException | None:
        """One try of ``action`` (``_lock`` held): None once sent, else the connection
        error that a retry may fix (the connection is dropped)."""
        try:
            action(self._connected_producer(deadline))
            return None
        except self.connector.fatal_errors as exc:
            self._reset(graceful=False)
            raise BusError(f"RabbitMQ at {self.connector.safe_url} refused {what}: "
                           f"{exc}") from exc
        except self.connector.errors as exc:
            self._reset(graceful=False)
            if self._down_since is None:
                self._down_since = time.monotonic()
            return exc

    def _connected_producer(self, deadline: float | None) -> KProducer:
        """The producer, connecting first if needed (``_lock`` held)."""
        if self._closed:
            raise BusError(f"bus {self.bus_id} is stopped")
        if self._producer is None:
            connect_timeout = self.connector.connect_timeout
            if deadline is not None:
                connect_timeout = max(0.05, min(connect_timeout, deadline - time.monotonic()))
            conn = self.connector.connection(
                heartbeat=0, confirm=True, connect_timeout=connect_timeout
            )
            try:
                self.connector.open(conn)
                channel = conn.channel()
            except BaseException:
                self.connector.drop(conn, graceful=False)
                raise
            self._conn = conn
            self._producer = Producer(channel, auto_declare=False)
            self._on_channel = set()
            self._declare_on(channel, *self.exchanges)
            if self._down_since is not None:
                LOG.warning(
                    "bus %s: publisher reconnected to %s after %.1fs",
                    self.bus_id,
                    self.connector.safe_url,
                    time.monotonic() - self._down_since,
                )
                self._down_since = None
        return self._producer

    def _declare_on(self, channel: Channel, *entities: KExchange | KQueue) -> None:
        """Declare the queues and exchanges not declared on ``channel`` yet."""
        for entity in entities:
            if entity.name in self._on_channel:
                continue
            entity(channel).declare()
            self._on_channel.add(entity.name)
            with self._declared_lock:
                if isinstance(entity, Queue):
                    self._declared_queues.add(entity.name)
                    if entity.exchange is not None and entity.exchange.name:
                        self._declared_exchanges.add(entity.exchange.name)
                else:
                    self._declared_exchanges.add(entity.name)

    def _reset(self, *, graceful: bool) -> None:
        conn, self._conn, self._producer = self._conn, None, None
        self._on_channel = set()
        self.connector.drop(conn, graceful=graceful)


__all__ = ["Publisher"]
