"""The identity migrations, 0006 (accounts) included, build exactly the identity models."""

from __future__ import annotations

from labs.common.db import Database, schema_drift, upgrade
from labs.identity import models


def test_migrations_build_exactly_the_models(db_url: str) -> None:
    db = Database(db_url)
    upgrade(db, "identity")
    upgrade(db, "identity")  # a second run is a no-op
    diff = schema_drift(db, models.IdentityBase.metadata)
    db.dispose()
    assert diff == []
