"""The image migrations build exactly the image models, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from labs.common.db import Database, upgrade
from labs.image import models


def test_migrations_build_exactly_the_models(db_url: str) -> None:
    db = Database(db_url)
    upgrade(db, "image")
    upgrade(db, "image")  # a second run is a no-op
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [d for d in compare_metadata(ctx, models.ImageBase.metadata)
                if not (d[0] == "remove_table" and d[1].name.startswith("alembic_version"))]
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
