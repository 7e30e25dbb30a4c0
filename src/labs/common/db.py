"""The SQL database: engines, one transaction per unit of work, migrations.

SQLite (WAL) for the all-in-one, MariaDB by URL for distributed runs. Every
service method that touches the database runs inside ``Database.transaction()``:
either all its writes commit or none do.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar, cast

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from labs.common.config import option
from labs.common.errors import Conflict, ServiceUnavailable

log = logging.getLogger("labs.db")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> sa.MetaData:
    """Metadata for one service's tables, with stable constraint names."""
    return sa.MetaData(naming_convention=NAMING)


@dataclass(frozen=True)
class DatabaseOptions:
    section: ClassVar[str] = "database"
    url: str = option("", "SQLAlchemy URL; empty means SQLite in the data directory")
    pool_size: int = option(20, "connections kept open per process and engine (MariaDB); "
                            "with the overflow, as many as a process has request threads")
    echo: bool = option(False, "log every SQL statement")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_own_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # pysqlite begins and commits nothing itself


def _sqlite_begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, pool_size: int = 20, echo: bool = False,
                autocommit: bool = False) -> Engine:
    """An engine; ``autocommit`` ones run single statements in one round trip each."""
    parsed = sa.engine.make_url(url)
    extra: dict[str, Any] = (
        # skip_autocommit_rollback: closing a read session sends nothing to the server
        {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None,
         "skip_autocommit_rollback": True} if autocommit else {})
    if parsed.get_backend_name() == "sqlite":
        # as many pooled connections as a process has request threads: opening one
        # costs more than most queries
        engine = sa.create_engine(url, echo=echo, connect_args={"check_same_thread": False},
                                  pool_size=pool_size, max_overflow=max(40 - pool_size, 0),
                                  **extra)
        event.listen(engine, "connect", _sqlite_pragmas)
        if not autocommit:
            # pysqlite's own transaction handling begins only before a write and commits
            # when the outermost savepoint is released, so a request whose first write was
            # a savepoint (save_unique) kept it after a rollback. Labs begins every
            # transaction itself (SQLAlchemy's pysqlite recipe), IMMEDIATE: the process
            # takes turns for writes anyway (Database.transaction), and another process's
            # commit can then never make a read-then-write transaction fail half-way.
            event.listen(engine, "connect", _sqlite_own_transactions)
            event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "mysql":
        if parsed.drivername == "mysql":
            parsed = parsed.set(drivername="mysql+pymysql")
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        if parsed.drivername == "mysql+pymysql" and not any(k.startswith("ssl")
                                                             for k in parsed.query):
            # PyMySQL builds a TLS context for every new connection (about 20 ms of CPU)
            # even when the server has TLS off; ask for TLS in the URL to use it
            extra["connect_args"] = {"ssl_disabled": True}
    engine = sa.create_engine(
        # the overflow covers every request thread (anyio's 40), so a busy process does
        # not open and close connections on each request
        parsed, echo=echo, pool_size=pool_size, max_overflow=max(40 - pool_size, 0),
        pool_recycle=3600, **{"isolation_level": "READ COMMITTED", **extra},
    )
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


#: A pooled connection idle for longer than this is pinged before use. Pinging every
#: checkout would double the round trips of a hot request; a server restart still
#: never reaches a request, since an idle connection is checked and a busy one fails
#: over on its next checkout.
IDLE_PING_SECONDS = 5.0


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    if time.monotonic() - record.info.get("checked_in", 0.0) < IDLE_PING_SECONDS:
        return
    try:
        dbapi_connection.ping(False)
    except Exception as exc:
        # the pool drops this connection and checks out a fresh one
        raise sa.exc.DisconnectionError(f"database connection went away: {exc}") from exc


class Database:
    """An engine plus sessions; the only way services reach SQL."""

    def __init__(self, url: str, *, pool_size: int = 20, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, echo=echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit = make_engine(url, pool_size=pool_size, echo=echo, autocommit=True)
        self._read_sessions = sessionmaker(self._autocommit, expire_on_commit=False)
        self._writers: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.is_sqlite else contextlib.nullcontext())
        self._compiled: dict[sa.ClauseElement, str] = {}

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit when the block ends, roll back if it raises.

        On SQLite, write transactions of one process take turns on a lock of this
        process first: SQLite has one writer at a time, and a writer that finds the
        database locked sleeps in growing steps (up to 100 ms) before it tries again,
        so many threads queueing inside SQLite wait far longer than the work takes.
        """
        with self._writers, self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """Reads outside a transaction: no BEGIN, COMMIT or ROLLBACK round trips.

        Each statement sees the data committed when it runs (autocommit), which is what
        a list or a show needs; anything that writes uses :meth:`transaction`.
        """
        with self._read_sessions() as session:
            yield session

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def scalar(self, statement: sa.ClauseElement) -> Any:
        """One read outside any transaction, for hot paths: a single round trip.

        It goes to the driver directly: an autocommit connection has nothing to roll
        back, and the SQL is compiled once per statement.
        """
        sql = self._compiled.get(statement)
        if sql is None:
            sql = str(statement.compile(self._autocommit,
                                        compile_kwargs={"literal_binds": True}))
            self._compiled[statement] = sql
        dialect = self._autocommit.dialect
        for attempt in (1, 2):
            conn = self._autocommit.raw_connection()
            try:
                cursor = conn.cursor()
                cursor.execute(sql)
                row = cursor.fetchone()
                cursor.close()
                break
            except dialect.loaded_dbapi.Error as exc:
                if not dialect.is_disconnect(exc, conn.dbapi_connection, None):
                    raise
                conn.invalidate(exc)  # a read is safe to repeat on a fresh connection
                if attempt == 2:
                    raise ServiceUnavailable("The database cannot be reached; try "
                                             "again.") from exc
            finally:
                conn.close()
        if row is None:
            raise LookupError(f"no row for {sql}")
        return row[0]

    def dispose(self) -> None:
        self.engine.dispose()
        self._autocommit.dispose()


def alembic_config(db: Database, service: str) -> AlembicConfig:
    """Alembic settings for one service's migrations (its own version table)."""
    location = resources.files(f"labs.{service}") / "migrations"
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(location))
    cfg.attributes["engine"] = db.engine
    cfg.attributes["version_table"] = f"alembic_version_{service}"
    return cfg


def upgrade(db: Database, service: str) -> None:
    """Bring one service's tables up to date; safe to run on every start."""
    command.upgrade(alembic_config(db, service), "head")
    log.debug("database schema of %s is current", service)


def save_unique(tx: Session, what: str, new: object | None = None) -> None:
    """Add ``new`` (if given) and flush; a unique-key clash becomes 409 Conflict.

    Runs in a savepoint, so after a clash the session holds neither the new row
    nor the half-made change and the request can still answer cleanly.
    """
    try:
        with tx.begin_nested():
            if new is not None:
                tx.add(new)
            tx.flush()
    except IntegrityError:
        raise Conflict(f"Conflict occurred attempting to store {what}: duplicate entry.") from None


def affected(result: sa.Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched (``Session.execute`` types every result
    as a plain ``Result``; these statements' results are cursor results)."""
    return cast("sa.CursorResult[Any]", result).rowcount


def matching(query: sa.Select[Any], **equal: object) -> sa.Select[Any]:
    """``query`` narrowed to rows whose columns equal each value given; None means any."""
    return query.filter_by(**{k: v for k, v in equal.items() if v is not None})


def apply_changes(row: object, changes: dict[str, Any], fields: tuple[str, ...]) -> None:
    """Copy the ``fields`` present in ``changes`` onto ``row``."""
    for name in fields:
        if name in changes:
            setattr(row, name, changes[name])


def schema_drift(db: Database, metadata: sa.MetaData) -> list[Any]:
    """How the live tables differ from ``metadata``'s; empty when the migrations match."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "include_name": lambda name, type_, _parent: (
                type_ != "table" or name in metadata.tables)})
        return list(compare_metadata(ctx, metadata))
