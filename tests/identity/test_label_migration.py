"""Revision 0007 gives every existing project a label, on both engines."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from labs.common.db import Database, alembic_config, schema_drift, upgrade
from labs.identity import models

#: Migrations are tested on an empty database, never on a reused one.
pytestmark = pytest.mark.fresh_database

BEFORE = [  # id, domain, name: what names could be before labels, and one from elsewhere
    ("p1", "default", "demo"), ("p2", "default", "bots-"), ("p3", "other", "demo"),
    ("p4", "default", "1abc"), ("p5", "other", "Tempest-Proj.1"), ("p6", "default", "---"),
    ("p7", "default", "tempest-proj-1")]


def test_existing_projects_get_the_labels_their_servers_used(db_url: str) -> None:
    db = Database(db_url)
    upgrade(db, "identity")
    config = alembic_config(db, "identity")
    command.downgrade(config, "0007-1")
    project = sa.table("project", *(sa.column(c) for c in (
        "id", "name", "domain_id", "description", "enabled", "tags", "extra")))
    with db.engine.begin() as conn:
        conn.execute(sa.insert(sa.table("domain", sa.column("id"), sa.column("name"),
                                        sa.column("description"), sa.column("enabled"))),
                     [{"id": d, "name": d, "description": "", "enabled": True}
                      for d in ("default", "other")])
        conn.execute(sa.insert(project), [
            {"id": i, "domain_id": d, "name": n, "description": "", "enabled": True,
             "tags": "[]", "extra": "{}"} for i, d, n in BEFORE])
    command.upgrade(config, "head")
    with db.transaction() as tx:
        labels = {p.id: p.label for p in tx.scalars(sa.select(models.Project))}
    # the default domain's projects keep the names their FQDNs had; the rest are suffixed
    assert labels == {"p1": "demo", "p2": "bots", "p3": "demo-2", "p4": "1abc",
                      "p5": "tempest-proj-1-2", "p6": "project", "p7": "tempest-proj-1"}
    assert schema_drift(db, models.IdentityBase.metadata) == []
    db.dispose()
