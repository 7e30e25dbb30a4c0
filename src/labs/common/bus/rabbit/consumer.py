"""The consuming side of a RabbitBus: a background thread that reconnects by itself.

One consuming connection is owned by a background thread, which reconnects
(forever, with back-off, until :meth:`BackgroundConsumer.stop`) and consumes
every registered queue again.  Messages are handled in a thread pool; one is
acknowledged only after its handler has returned, by the consumer thread
(channels are not thread-safe).
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from labs.common.bus.base import LOG
from labs.common.bus.rabbit.connection import (
    Backoff,
    Channel,
    Connector,
    Consumer,
    KConnection,
    KConsumer,
    KQueue,
    Message,
)


@dataclass
class _Registration:
    """Queues consumed with one callback; ``no_ack`` ones are not acknowledged."""

    rid: int
    queues: list[KQueue]
    on_message: Callable[[Message], None]
    no_ack: bool


class BackgroundConsumer:
    """Consumes the registered queues of the bus ``bus_id`` in a background thread.

    ``heartbeat`` is the AMQP heartbeat of the connection, ``workers`` threads
    run the handlers with ``prefetch_count`` unacknowledged messages per
    consumer, ``poll_interval`` is how often the thread looks for new
    registrations, and ``stop_timeout`` how long :meth:`stop` waits for running
    handlers.  :attr:`connected` is set while the thread is connected.
    """

    def __init__(
        self,
        connector: Connector,
        backoff: Backoff,
        *,
        bus_id: str,
        thread_prefix: str,
        workers: int,
        prefetch_count: int,
        heartbeat: float,
        poll_interval: float,
        stop_timeout: float,
    ) -> None:
        self.connector = connector
        self.backoff = backoff
        self.bus_id = bus_id
        self.thread_prefix = thread_prefix
        self.workers = workers
        self.prefetch_count = prefetch_count
        self.heartbeat = heartbeat
        self.poll_interval = poll_interval
        self.stop_timeout = stop_timeout
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._registrations: list[_Registration] = []
        self._rids = itertools.count()
        self._generation = 0  # bumped each time a connection ends
        self._last_lost: float | None = None
        self._acks: queue.Queue[tuple[int, Message]] = queue.Queue()
        self._inflight = 0
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None

    def add(
        self, queues: Iterable[KQueue], on_message: Callable[[Message], None], *, no_ack: bool
    ) -> None:
        """Consume ``queues`` with ``on_message`` (from now on, or once started)."""
        with self._lock:
            self._registrations.append(
                _Registration(next(self._rids), list(queues), on_message, no_ack)
            )

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start the worker pool and the consumer thread."""
        self._executor = ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix=f"{self.thread_prefix}-worker"
        )
        self._thread = threading.Thread(
            target=self._consume_forever, name=f"{self.thread_prefix}-consumer", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop consuming, let running handlers finish, and join every thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(self.stop_timeout + 5.0)
            if self._thread.is_alive():
                LOG.error("bus %s: consumer thread did not stop in time", self.bus_id)
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def lost_connection_since(self, since: float) -> bool:
        """Whether a connection ended at or after ``since`` (a :func:`time.monotonic` value)."""
        with self._lock:
            return self._last_lost is not None and self._last_lost >= since

    # -- the consumer thread ------------------------------------------------

    def _consume_forever(self) -> None:
        safe_url = self.connector.safe_url
        delay = self.backoff.start
        down_since: float | None = None
        ever_connected = False
        while not self._stopping.is_set():
            conn = self.connector.connection(heartbeat=self.heartbeat, confirm=False)
            graceful = False
            try:
                self.connector.open(conn)
                if down_since is not None:
                    LOG.warning(
                        "bus %s: consumer reconnected to %s after %.1fs; resuming",
                        self.bus_id,
                        safe_url,
                        time.monotonic() - down_since,
                    )
                down_since = None
                delay = self.backoff.start
                ever_connected = True
                self._consume_on(conn)
                graceful = True
            except Exception as exc:
                if self._stopping.is_set():
                    break
                if not isinstance(exc, self.connector.errors):
                    LOG.exception("bus %s: consumer failed; reconnecting", self.bus_id)
                if down_since is None:
                    down_since = time.monotonic()
                    LOG.warning(
                        "bus %s: consumer connection to %s %s (%s: %s); reconnecting",
                        self.bus_id,
                        safe_url,
                        "lost" if ever_connected else "failed",
                        type(exc).__name__,
                        exc,
                    )
                else:
                    LOG.warning(
                        "bus %s: consumer still cannot reach %s (%s: %s); retrying in %.2fs",
                        self.bus_id,
                        safe_url,
                        type(exc).__name__,
                        exc,
                        delay,
                    )
            finally:
                self.connected.clear()
                with self._lock:
                    self._generation += 1
                    self._last_lost = time.monotonic()
                self.connector.drop(conn, graceful=graceful)
            if down_since is not None:
                self._stopping.wait(delay)
                delay = self.backoff.after(delay)

    def _consume_on(self, conn: KConnection) -> None:
        """Consume on ``conn`` until stopping; connection errors propagate."""
        channel = conn.channel()
        channel.basic_qos(prefetch_size=0, prefetch_count=self.prefetch_count, a_global=False)
        with self._lock:
            generation = self._generation
        consumers: dict[int, KConsumer] = {}
        heartbeat_every = max(self.heartbeat / 4.0, self.poll_interval)
        next_heartbeat = time.monotonic() + heartbeat_every
        self.connected.set()
        while not self._stopping.is_set():
            with self._lock:
                new = [r for r in self._registrations if r.rid not in consumers]
            for reg in new:
                consumers[reg.rid] = self._start_consumer(channel, reg, generation)
            self._flush_acks(generation)
            with contextlib.suppress(TimeoutError):
                conn.drain_events(timeout=self.poll_interval)
            if self.heartbeat and time.monotonic() >= next_heartbeat:
                conn.heartbeat_check()
                next_heartbeat = time.monotonic() + heartbeat_every
        for consumer in consumers.values():
            consumer.cancel()
        deadline = time.monotonic() + self.stop_timeout
        while self._inflight_count() and time.monotonic() < deadline:
            self._flush_acks(generation, wait=0.05)
        self._flush_acks(generation)

    def _start_consumer(self, channel: Channel, reg: _Registration, generation: int) -> KConsumer:
        if reg.no_ack:
            callback = reg.on_message
        else:

            def callback(message: Message) -> None:
                self._dispatch(reg, message, generation)

        consumer = Consumer(channel, queues=reg.queues, on_message=callback, no_ack=reg.no_ack)
        consumer.consume()
        return consumer

    # -- handlers in the worker pool -----------------------------------------

    def _inflight_count(self) -> int:
        with self._lock:
            return self._inflight

    def _dispatch(self, reg: _Registration, message: Message, generation: int) -> None:
        executor = self._executor
        assert executor is not None
        with self._lock:
            self._inflight += 1
        executor.submit(self._work, reg, message, generation)

    def _work(self, reg: _Registration, message: Message, generation: int) -> None:
        try:
            reg.on_message(message)
        except Exception:
            LOG.exception("bus %s: handler failed; message dropped", self.bus_id)
        finally:
            self._acks.put((generation, message))
            with self._lock:
                self._inflight -= 1

    def _flush_acks(self, generation: int, wait: float = 0.0) -> None:
        """Acknowledge finished messages (consumer thread only: channels are not thread-safe)."""
        block = wait > 0
        while True:
            try:
                gen, message = self._acks.get(block, wait if block else None)
            except queue.Empty:
                return
            block = False
            if gen == generation:
                message.ack()
            # Messages of an older connection were requeued by the broker.


__all__ = ["BackgroundConsumer"]
