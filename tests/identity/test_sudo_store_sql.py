"""The SQL sudo rule store keeps the store contract, on both engines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session

from labs.common.db import Database, alembic_config
from labs.identity.sudo.rules import default_rules
from labs.identity.sudo.sql import SqlSudoRuleStore
from labs.identity.sudo.store import SudoRuleStore
from tests.identity.sudo_store_contract import *  # noqa: F403
from tests.identity.sudo_store_contract import with_projects

#: Migrations are tested on an empty database, never on a reused one.
pytestmark = pytest.mark.fresh_database


@pytest.fixture
def store() -> SudoRuleStore:
    return SqlSudoRuleStore()


@pytest.fixture
def tx(db_url: str) -> Iterator[Session]:
    yield from with_projects(db_url)


def test_projects_made_before_sudo_rules_get_the_defaults(db_url: str) -> None:
    db = Database(db_url)
    cfg = alembic_config(db, "identity")
    command.upgrade(cfg, "0007")
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO domain (id, name, description, enabled) "
                             "VALUES ('default', 'Default', '', :t)"), {"t": True})
        conn.execute(sa.text(
            "INSERT INTO project (id, name, label, domain_id, description, enabled, tags, "
            "extra) VALUES ('p1', 'Web Team', 'web-team', 'default', '', :t, '[]', '{}')"),
            {"t": True})
    command.upgrade(cfg, "head")
    with db.transaction() as tx:
        assert SqlSudoRuleStore().list_rules(tx, "p1") == default_rules("web-team")
    command.downgrade(cfg, "0007")
    with db.engine.connect() as conn:
        assert not sa.inspect(conn).has_table("sudo_rule")
    db.dispose()
