"""Migrations and models agree, on both engines; transactions are all or nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from labs.common.db import Database, save_unique, schema_drift, upgrade
from labs.identity import models

#: Migrations are tested on an empty database, never on a reused one.
pytestmark = pytest.mark.fresh_database


def test_migrations_build_exactly_the_models(db_url: str) -> None:
    db = Database(db_url)
    upgrade(db, "identity")
    upgrade(db, "identity")  # a second run is a no-op
    diff = schema_drift(db, models.IdentityBase.metadata)
    db.dispose()
    assert diff == []


def test_a_failed_transaction_leaves_nothing(db_url: str) -> None:
    db = Database(db_url)
    upgrade(db, "identity")
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.add(models.Domain(id="d1", name="one"))
        tx.flush()
        raise RuntimeError("crash in the middle")
    with db.transaction() as tx:
        assert tx.scalars(sa.select(models.Domain)).all() == []
    db.dispose()


def test_a_failed_transaction_whose_first_write_was_a_savepoint_leaves_nothing(
        db_url: str) -> None:
    """pysqlite alone begins no transaction before a SAVEPOINT and commits at its release:
    save_unique as a request's first write would outlive the request's rollback."""
    db = Database(db_url)
    upgrade(db, "identity")
    with pytest.raises(RuntimeError), db.transaction() as tx:
        save_unique(tx, "domain one", models.Domain(id="d1", name="one"))
        save_unique(tx, "domain two", models.Domain(id="d2", name="two"))
        raise RuntimeError("crash in the middle")
    with db.transaction() as tx:
        assert tx.scalars(sa.select(models.Domain)).all() == []
    db.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/x.db")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_affected_counts_the_rows_an_update_changed() -> None:
    import sqlalchemy as sa

    from labs.common.db import affected

    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1), (1), (2)"))
        assert affected(conn.execute(sa.text("UPDATE t SET x = 3 WHERE x = 1"))) == 2
