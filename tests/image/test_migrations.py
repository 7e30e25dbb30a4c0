"""The image migrations build exactly the image models, on both engines."""

from __future__ import annotations

import pytest

from labs.common.db import Database, schema_drift, upgrade
from labs.image import models

#: Migrations are tested on an empty database, never on a reused one.
pytestmark = pytest.mark.fresh_database


def test_migrations_build_exactly_the_models(db_url: str) -> None:
    db = Database(db_url)
    upgrade(db, "image")
    upgrade(db, "image")  # a second run is a no-op
    diff = schema_drift(db, models.ImageBase.metadata)
    db.dispose()
    assert diff == []


def test_image_and_identity_tables_live_side_by_side(db_url: str) -> None:
    """`labs up` keeps both services in one database, each with its own version table."""
    db = Database(db_url)
    upgrade(db, "identity")
    upgrade(db, "image")
    with db.engine.connect() as conn:
        tables = set(conn.dialect.get_table_names(conn))
    db.dispose()
    assert {"alembic_version_identity", "alembic_version_image", "image", "image_tag",
            "image_member"} <= tables
