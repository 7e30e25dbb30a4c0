"""Locks in the database: one row per key (a project, a user) that writers take before
they count and add rows, so that two requests never both pass a quota check.

The table is any model with a string primary key ``project_id`` and an integer
``version``. Taking the lock is a write (``version + 1``): on MariaDB a row lock held
until the transaction ends, on SQLite the database's write lock, taken before anything
is read.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database, affected


def ensure_lock_row(db: Database, model: Any, key: str) -> None:
    """Make the key's lock row, in a transaction of its own: inserting it inside the
    writer's transaction would have racing writers deadlock on MariaDB."""
    if db.is_sqlite:
        return  # SQLite's write lock serializes writers anyway; take_lock inserts
    try:
        with db.transaction() as tx:
            if tx.get(model, key) is None:
                tx.add(model(project_id=key, version=0))
    except sa.exc.IntegrityError:
        pass  # made by a racing request: as good


def take_lock(tx: Session, model: Any, key: str) -> None:
    """Hold the key's lock until `tx` ends. On MariaDB call `ensure_lock_row` first."""
    bumped = tx.execute(sa.update(model).where(model.project_id == key)
                        .values(version=model.version + 1))
    if not affected(bumped):
        tx.add(model(project_id=key, version=0))
        tx.flush()
