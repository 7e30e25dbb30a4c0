"""Every project's POSIX group number: from the accounts' ledger, made with the project,
never reused, and given by revision 0009 to projects made before it (both engines)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from labs.common.db import Database, alembic_config, schema_drift, upgrade
from labs.common.errors import NotFound
from labs.identity import models
from labs.identity.posix import FIRST_UID
from labs.identity.service import IdentityService


def test_projects_and_users_share_the_numbers(identity: IdentityService) -> None:
    first = identity.resources.create_project({"name": "p-one"}, "default").id
    user = identity.users.create_user({"name": "alice"}, "default").posix
    second = identity.resources.create_project({"name": "p-two"}, "default").id
    gids = {identity.project_gid(first), identity.project_gid(second)}
    assert user is not None and len(gids) == 2 and min(gids) >= FIRST_UID
    assert user.gid_number not in gids and user.uid_number not in gids


def test_a_deleted_projects_gid_is_not_reused(identity: IdentityService) -> None:
    gone = identity.resources.create_project({"name": "gone"}, "default").id
    old = identity.project_gid(gone)
    identity.resources.delete_project(gone)
    with pytest.raises(NotFound):
        identity.project_gid(gone)
    again = identity.resources.create_project({"name": "gone"}, "default").id
    assert identity.project_gid(again) > old
    with pytest.raises(NotFound):
        identity.project_gid("no-such-project")


def test_existing_projects_get_a_gid_in_the_migration(db_url: str) -> None:
    db = Database(db_url)
    upgrade(db, "identity")
    config = alembic_config(db, "identity")
    command.downgrade(config, "0008")
    with db.engine.begin() as conn:
        conn.execute(sa.insert(sa.table("domain", sa.column("id"), sa.column("name"),
                                        sa.column("description"), sa.column("enabled"))),
                     [{"id": "default", "name": "Default", "description": "",
                       "enabled": True}])
        conn.execute(sa.insert(sa.table("project", *(sa.column(c) for c in (
            "id", "name", "domain_id", "description", "enabled", "tags", "extra",
            "label")))), [{"id": f"p{i}", "domain_id": "default", "name": f"n{i}",
                           "description": "", "enabled": True, "tags": "[]",
                           "extra": "{}", "label": f"n{i}"} for i in range(3)])
    command.upgrade(config, "head")
    with db.transaction() as tx:
        rows = tx.scalars(sa.select(models.PosixAllocation).where(
            models.PosixAllocation.project_id.is_not(None))).all()
    assert sorted(r.project_id or "" for r in rows) == ["p0", "p1", "p2"]
    assert len({r.number for r in rows}) == 3
    assert schema_drift(db, models.IdentityBase.metadata) == []
    db.dispose()
