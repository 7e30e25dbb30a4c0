"""The SQL sudo rule store keeps the store contract, on both engines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from labs.common.db import Database, upgrade
from labs.identity import models
from labs.identity.sudo.sql import SqlSudoRuleStore
from labs.identity.sudo.store import SudoRuleStore
from tests.identity.sudo_store_contract import *  # noqa: F403


@pytest.fixture
def store() -> SudoRuleStore:
    return SqlSudoRuleStore()


@pytest.fixture
def tx(db_url: str) -> Iterator[Session]:
    db = Database(db_url)
    upgrade(db, "identity")
    with db.transaction() as session:
        session.add(models.Domain(id="default", name="Default"))
        session.flush()
        for project in ("p1", "p2"):
            session.add(models.Project(id=project, name=project, label=project,
                                       domain_id="default"))
        session.flush()
        yield session
    db.dispose()
