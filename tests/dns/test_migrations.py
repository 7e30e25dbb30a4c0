"""The DNS migrations build exactly the models' tables, on SQLite and MariaDB."""

from __future__ import annotations

import pytest

from labs.common.db import Database, schema_drift, upgrade
from labs.dns import models

#: Migrations are tested on an empty database, never on a reused one.
pytestmark = pytest.mark.fresh_database


def test_migrations_build_exactly_the_models(db_url: str) -> None:
    db = Database(db_url)
    upgrade(db, "dns")
    upgrade(db, "dns")  # a second run is a no-op
    diff = schema_drift(db, models.DnsBase.metadata)
    db.dispose()
    assert diff == []
