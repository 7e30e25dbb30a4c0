"""RabbitMQ transport on kombu, with reconnection.

Layout (every name starts with the bus *namespace*, default ``labs``):

* ``<ns>_rpc``: durable direct exchange for requests.  A server of ``topic``
  consumes the durable queue ``<ns>.rpc.<topic>`` (shared by all servers of the
  topic) and, when it has a server name, ``<ns>.rpc.<topic>.<server>``.
* ``<ns>_notifications``: durable topic exchange; routing key = event type.
  A subscription consumes ``<ns>.notifications.<group>.<pattern>``.
* ``<ns>.reply.<uuid>``: this bus's reply queue (durable so that it outlives a
  connection cut, ``x-expires`` so that a crashed process's queue goes away).

Connections: one publishing connection with publisher confirms, used under a
lock by every thread and re-opened on failure with bounded back-off; one
consuming connection owned by a background thread that reconnects by itself
(forever, with back-off, until :meth:`RabbitBus.stop`) and re-declares its
queues.  Endpoint methods and handlers run in a thread pool; a message is
acknowledged only after its method or handler has returned.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kombu import connection as _connection
from kombu import entity as _entity
from kombu import messaging as _messaging

from labs.common.bus.base import (
    DEFAULT_CALL_TIMEOUT,
    DEFAULT_NAMESPACE,
    LOG,
    Bus,
    BusError,
    BusTimeout,
    BusUnavailable,
    Notification,
    NotificationHandler,
    check_name,
    decode,
    encode,
    reply_value,
    rpc_routing_key,
    run_request,
)

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


@dataclass
class _Registration:
    """Queues consumed with one callback; ``no_ack`` only for the reply queue."""

    queues: list[KQueue]
    on_message: Callable[[Message], None]
    no_ack: bool = False
    rid: int = field(default=0)


class _Waiter:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.body: bytes | str | None = None

    def set(self, body: bytes | str) -> None:
        self.body = body
        self.event.set()


_STOPPED_REPLY = b'{"stopped":true}'


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
        self.max_retries = max_retries
        self.interval_start = interval_start
        self.interval_step = interval_step
        self.interval_max = interval_max
        self.connect_timeout = connect_timeout
        self.confirm_timeout = confirm_timeout
        self.socket_timeout = socket_timeout
        self.heartbeat = heartbeat
        self.workers = workers
        self.prefetch_count = prefetch_count or 2 * workers
        self.poll_interval = poll_interval
        self.stop_timeout = stop_timeout

        probe = Connection(url)
        self.safe_url: str = probe.as_uri()
        self._all_errors: tuple[type[BaseException], ...] = (
            *probe.connection_errors,
            *probe.channel_errors,
            OSError,
        )
        from amqp.exceptions import IrrecoverableChannelError

        self._fatal_errors: tuple[type[BaseException], ...] = (IrrecoverableChannelError,)

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

        self._lock = threading.Lock()
        self._state = "new"
        self._stopping = threading.Event()
        self._registrations: list[_Registration] = []
        self._rids = itertools.count(1)  # 0 is the reply queue's
        self._served: set[tuple[str, str | None]] = set()
        self._pending: dict[str, _Waiter] = {}
        self._declared_queues: set[str] = set()
        self._declared_exchanges: set[str] = set()
        self._generation = 0
        self._acks: queue.Queue[tuple[int, Message]] = queue.Queue()
        self._inflight = 0
        self._consumer_thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.consumer_connected = threading.Event()

        self._pub_lock = threading.Lock()
        self._pub_conn: KConnection | None = None
        self._pub_producer: KProducer | None = None
        self._pub_declared: set[str] = set()
        self._pub_closed = False
        self._pub_down_since: float | None = None

    # -- connections ----------------------------------------------------

    def _connection(
        self, *, heartbeat: float, confirm: bool, connect_timeout: float | None = None
    ) -> KConnection:
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
    def _open(conn: KConnection) -> None:
        """Connect once (``Connection.connect`` would retry after sleeping 2s)."""
        conn.ensure_connection(max_retries=0, reraise_as_library_errors=False)

    @staticmethod
    def _drop(conn: KConnection | None, *, graceful: bool) -> None:
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

    def _backoff(self, delay: float) -> float:
        return min(delay + self.interval_step, self.interval_max)

    # -- publishing -----------------------------------------------------

    def _producer(self, deadline: float | None = None) -> KProducer:
        """The publishing producer, connecting first if needed (publisher lock held)."""
        if self._pub_closed:
            raise BusError(f"bus {self.bus_id} is stopped")
        if self._pub_producer is None:
            connect_timeout = self.connect_timeout
            if deadline is not None:
                connect_timeout = max(0.05, min(connect_timeout, deadline - time.monotonic()))
            conn = self._connection(heartbeat=0, confirm=True, connect_timeout=connect_timeout)
            try:
                self._open(conn)
                channel = conn.channel()
            except BaseException:
                self._drop(conn, graceful=False)
                raise
            self._pub_conn = conn
            self._pub_producer = Producer(channel, auto_declare=False)
            self._pub_declared = set()
            for exchange in (self.rpc_exchange, self.notification_exchange):
                self._declare_on(channel, exchange)
            if self._pub_down_since is not None:
                LOG.warning(
                    "bus %s: publisher reconnected to %s after %.1fs",
                    self.bus_id,
                    self.safe_url,
                    time.monotonic() - self._pub_down_since,
                )
                self._pub_down_since = None
        return self._pub_producer

    def _declare_on(self, channel: Channel, entity: KExchange | KQueue) -> None:
        if entity.name in self._pub_declared:
            return
        entity(channel).declare()
        self._pub_declared.add(entity.name)
        with self._lock:
            if isinstance(entity, Queue):
                self._declared_queues.add(entity.name)
                if entity.exchange is not None and entity.exchange.name:
                    self._declared_exchanges.add(entity.exchange.name)
            else:
                self._declared_exchanges.add(entity.name)

    def _with_publisher(
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
        started = time.monotonic()
        delay = self.interval_start
        attempt = 0
        last: BaseException | None = None
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            if not self._pub_lock.acquire(timeout=-1 if remaining is None else remaining):
                break
            try:
                try:
                    action(self._producer(deadline))
                    return
                except self._fatal_errors as exc:
                    self._reset_publisher(graceful=False)
                    raise BusError(f"RabbitMQ at {self.safe_url} refused {what}: {exc}") from exc
                except self._all_errors as exc:
                    self._reset_publisher(graceful=False)
                    last = exc
                    if self._pub_down_since is None:
                        self._pub_down_since = time.monotonic()
            finally:
                self._pub_lock.release()
            attempt += 1
            if attempt > retries:
                break
            pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            LOG.warning(
                "bus %s: %s failed (%s: %s); reconnecting to %s in %.2fs (retry %d/%d)",
                self.bus_id,
                what,
                type(last).__name__,
                last,
                self.safe_url,
                pause,
                attempt,
                retries,
            )
            time.sleep(pause)
            delay = self._backoff(delay)
        reason = f"{type(last).__name__}: {last}" if last is not None else "publisher busy"
        limit = f"after {attempt} attempts"
        if deadline is not None:
            limit = "before the call's deadline"
        raise BusUnavailable(
            f"RabbitMQ at {self.safe_url} is unavailable: {what} could not be sent {limit} "
            f"({time.monotonic() - started:.1f}s); last error: {reason}"
        ) from last

    def _reset_publisher(self, *, graceful: bool) -> None:
        conn, self._pub_conn, self._pub_producer = self._pub_conn, None, None
        self._pub_declared = set()
        self._drop(conn, graceful=graceful)

    def _publish(
        self,
        what: str,
        body: str,
        *,
        exchange: KExchange | None,
        routing_key: str,
        declare: Iterable[KQueue] = (),
        deadline: float | None = None,
        max_retries: int | None = None,
        persistent: bool = True,
        **properties: Any,
    ) -> None:
        declare = list(declare)

        def action(producer: KProducer) -> None:
            for entity in declare:
                self._declare_on(producer.channel, entity)
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

        self._with_publisher(what, action, deadline=deadline, max_retries=max_retries)

    def _declare(self, what: str, entities: Iterable[KQueue]) -> None:
        entities = list(entities)

        def action(producer: KProducer) -> None:
            for entity in entities:
                self._declare_on(producer.channel, entity)

        self._with_publisher(what, action)

    def _rpc_queue(self, topic: str, server: str | None) -> KQueue:
        key = rpc_routing_key(topic, server)
        return Queue(
            f"{self.namespace}.rpc.{key}",
            exchange=self.rpc_exchange,
            routing_key=key,
            durable=True,
            auto_delete=False,
        )

    # -- registration ---------------------------------------------------

    def _check_usable(self) -> None:
        if self._state == "stopped":
            raise BusError(f"bus {self.bus_id} is stopped")

    def _register(self, registration: _Registration) -> None:
        with self._lock:
            self._check_usable()
            registration.rid = next(self._rids)
            self._registrations.append(registration)

    def serve(self, topic: str, endpoint: object, server: str | None = None) -> None:
        check_name("topic", topic)
        if server is not None:
            check_name("server", server)
        with self._lock:
            self._check_usable()
            if (topic, server) in self._served:
                raise ValueError(f"this bus already serves topic {topic!r} server {server!r}")
            self._served.add((topic, server))
        queues = [self._rpc_queue(topic, None)]
        if server is not None:
            queues.append(self._rpc_queue(topic, server))
        try:
            self._declare(f"declaring the queues of topic {topic!r}", queues)
        except BaseException:
            with self._lock:
                self._served.discard((topic, server))
            raise

        def on_message(message: Message) -> None:
            self._serve_message(topic, endpoint, message)

        self._register(_Registration(queues, on_message))

    def subscribe(self, pattern: str, handler: NotificationHandler, group: str) -> None:
        if not pattern:
            raise ValueError("pattern must be a non-empty string")
        check_name("group", group)
        q = Queue(
            f"{self.namespace}.notifications.{group}.{pattern}",
            exchange=self.notification_exchange,
            routing_key=pattern,
            durable=True,
            auto_delete=False,
        )
        self._declare(f"declaring the notification queue of group {group!r}", [q])

        def on_message(message: Message) -> None:
            notification = Notification.from_dict(decode(message.body))
            handler(notification)

        self._register(_Registration([q], on_message))

    # -- life cycle -------------------------------------------------------

    def start(self) -> None:
        """Declare the reply queue and start the consumer thread.

        Raises :class:`BusUnavailable` if RabbitMQ cannot be reached.
        """
        with self._lock:
            self._check_usable()
            if self._state == "running":
                return
        self._declare("declaring the reply queue", [self.reply_queue])
        with self._lock:
            self._check_usable()
            if self._state == "running":
                return
            self._state = "running"
            self._registrations.append(
                _Registration([self.reply_queue], self._on_reply, no_ack=True, rid=0)
            )
            self._executor = ThreadPoolExecutor(
                max_workers=self.workers, thread_name_prefix=f"{self.thread_prefix}-worker"
            )
            self._consumer_thread = threading.Thread(
                target=self._consume_forever, name=f"{self.thread_prefix}-consumer", daemon=True
            )
            self._consumer_thread.start()

    def stop(self) -> None:
        with self._lock:
            if self._state == "stopped":
                return
            self._state = "stopped"
            thread, executor = self._consumer_thread, self._executor
            waiters = list(self._pending.values())
        self._stopping.set()
        if thread is not None:
            thread.join(self.stop_timeout + 5.0)
            if thread.is_alive():
                LOG.error("bus %s: consumer thread did not stop in time", self.bus_id)
        if executor is not None:
            executor.shutdown(wait=True)
        for waiter in waiters:
            waiter.set(_STOPPED_REPLY)
        if thread is not None:
            try:
                self._with_publisher(
                    "deleting the reply queue",
                    lambda producer: producer.channel.queue_delete(self.reply_queue.name),
                    max_retries=0,
                )
                with self._lock:
                    self._declared_queues.discard(self.reply_queue.name)
            except BusError as exc:
                LOG.info("bus %s: reply queue left to expire: %s", self.bus_id, exc)
        with self._pub_lock:
            self._reset_publisher(graceful=True)
            self._pub_closed = True

    def delete_declared(self) -> None:
        """Delete every queue and exchange this bus has declared (messages in them are lost).

        Meant for tests and for decommissioning a namespace; works on a stopped bus.
        """
        with self._lock:
            queues = sorted(self._declared_queues)
            exchanges = sorted(self._declared_exchanges)
        conn = self._connection(heartbeat=0, confirm=False)
        try:
            self._open(conn)
            channel = conn.channel()
            for name in queues:
                channel.queue_delete(name)
            for name in exchanges:
                channel.exchange_delete(name)
        except self._all_errors as exc:
            self._drop(conn, graceful=False)
            raise BusUnavailable(f"could not delete entities on {self.safe_url}: {exc}") from exc
        self._drop(conn, graceful=True)
        with self._lock:
            self._declared_queues.clear()
            self._declared_exchanges.clear()

    # -- consuming ----------------------------------------------------------

    def _consume_forever(self) -> None:
        delay = self.interval_start
        down_since: float | None = None
        ever_connected = False
        while not self._stopping.is_set():
            conn = self._connection(heartbeat=self.heartbeat, confirm=False)
            graceful = False
            try:
                self._open(conn)
                if down_since is not None:
                    LOG.warning(
                        "bus %s: consumer reconnected to %s after %.1fs; resuming",
                        self.bus_id,
                        self.safe_url,
                        time.monotonic() - down_since,
                    )
                down_since = None
                delay = self.interval_start
                ever_connected = True
                self._consume_on(conn)
                graceful = True
            except Exception as exc:
                if self._stopping.is_set():
                    break
                if not isinstance(exc, self._all_errors):
                    LOG.exception("bus %s: consumer failed; reconnecting", self.bus_id)
                if down_since is None:
                    down_since = time.monotonic()
                    LOG.warning(
                        "bus %s: consumer connection to %s %s (%s: %s); reconnecting",
                        self.bus_id,
                        self.safe_url,
                        "lost" if ever_connected else "failed",
                        type(exc).__name__,
                        exc,
                    )
                else:
                    LOG.warning(
                        "bus %s: consumer still cannot reach %s (%s: %s); retrying in %.2fs",
                        self.bus_id,
                        self.safe_url,
                        type(exc).__name__,
                        exc,
                        delay,
                    )
            finally:
                self.consumer_connected.clear()
                with self._lock:
                    self._generation += 1
                self._drop(conn, graceful=graceful)
            if down_since is not None:
                self._stopping.wait(delay)
                delay = self._backoff(delay)

    def _consume_on(self, conn: KConnection) -> None:
        """Consume on ``conn`` until stopping; connection errors propagate."""
        channel = conn.channel()
        channel.basic_qos(prefetch_size=0, prefetch_count=self.prefetch_count, a_global=False)
        with self._lock:
            generation = self._generation
        consumers: dict[int, KConsumer] = {}
        heartbeat_every = max(self.heartbeat / 4.0, self.poll_interval)
        next_heartbeat = time.monotonic() + heartbeat_every
        self.consumer_connected.set()
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

    # -- RPC ----------------------------------------------------------------

    def _serve_message(self, topic: str, endpoint: object, message: Message) -> None:
        request = decode(message.body)
        reply = run_request(endpoint, request)
        method = request.get("method")
        reply_to = message.properties.get("reply_to")
        if not reply_to:
            if "error" in reply:
                LOG.error(
                    "bus %s: cast %s.%s failed: %s: %s",
                    self.bus_id,
                    topic,
                    method,
                    reply["error"]["type"],
                    reply["error"]["message"],
                )
            return
        try:
            self._publish(
                f"reply to {topic}.{method}",
                encode(reply),
                exchange=None,
                routing_key=reply_to,
                persistent=False,
                correlation_id=message.properties.get("correlation_id"),
            )
        except BusError as exc:
            LOG.error("bus %s: reply to %s.%s lost: %s", self.bus_id, topic, method, exc)

    def _on_reply(self, message: Message) -> None:
        correlation_id = message.properties.get("correlation_id")
        with self._lock:
            waiter = self._pending.get(correlation_id)
        if waiter is None:
            LOG.debug("bus %s: discarding late or duplicate reply %s", self.bus_id, correlation_id)
        else:
            waiter.set(message.body)

    def call(
        self,
        topic: str,
        method: str,
        *,
        timeout: float = DEFAULT_CALL_TIMEOUT,
        server: str | None = None,
        **kwargs: Any,
    ) -> Any:
        check_name("topic", topic)
        body = encode({"method": method, "kwargs": kwargs})
        key = rpc_routing_key(topic, server)
        correlation_id = uuid.uuid4().hex
        waiter = _Waiter()
        deadline = time.monotonic() + timeout
        with self._lock:
            self._check_usable()
            if self._state != "running":
                raise BusError(f"bus {self.bus_id} is not started: call start() before call()")
            self._pending[correlation_id] = waiter
            generation = self._generation
        try:
            self._publish(
                f"call {method!r} on {key!r}",
                body,
                exchange=self.rpc_exchange,
                routing_key=key,
                deadline=deadline,
                reply_to=self.reply_queue.name,
                correlation_id=correlation_id,
                expiration=max(timeout, 0.001),
            )
            if not waiter.event.wait(max(0.0, deadline - time.monotonic())):
                note = ""
                if self._generation != generation:
                    note = " (the connection to RabbitMQ was lost and re-established meanwhile)"
                raise BusTimeout(f"no reply to {method!r} on {key!r} within {timeout:g}s{note}")
        finally:
            with self._lock:
                self._pending.pop(correlation_id, None)
        assert waiter.body is not None
        reply = decode(waiter.body)
        if reply.get("stopped"):
            raise BusError(f"bus {self.bus_id} stopped while waiting for {method!r} on {key!r}")
        return reply_value(reply, topic, method)

    def cast(self, topic: str, method: str, *, server: str | None = None, **kwargs: Any) -> None:
        check_name("topic", topic)
        body = encode({"method": method, "kwargs": kwargs})
        with self._lock:
            self._check_usable()
        key = rpc_routing_key(topic, server)
        self._publish(
            f"cast {method!r} on {key!r}",
            body,
            exchange=self.rpc_exchange,
            routing_key=key,
            declare=[self._rpc_queue(topic, server)],
        )

    # -- notifications --------------------------------------------------------

    def notify(
        self,
        event_type: str,
        payload: dict[str, Any],
        publisher_id: str | None = None,
        *,
        priority: str = "INFO",
    ) -> None:
        check_name("event_type", event_type)
        notification = Notification(
            event_type=event_type,
            payload=payload,
            publisher_id=publisher_id or self.default_publisher_id,
            priority=priority,
        )
        body = encode(notification.to_dict())
        with self._lock:
            self._check_usable()
        self._publish(
            f"notification {event_type!r}",
            body,
            exchange=self.notification_exchange,
            routing_key=event_type,
        )
