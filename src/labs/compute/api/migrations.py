"""The record of moves (``os-migrations``, ``servers/{id}/migrations``): what admins see
of live migrations, resizes and cold migrations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from labs.common.context import RequestContext
from labs.common.db import Database
from labs.common.errors import BadRequest, NotFound
from labs.compute import models

Mig = models.Migration
#: A live migration still under way (what ``servers/{id}/migrations`` lists).
IN_PROGRESS = ("queued", "preparing", "running")


@dataclass(frozen=True)
class MigrationFilter:
    host: str | None = None  # source or destination
    status: str | None = None
    instance_id: str | None = None
    migration_type: str | None = None
    source_compute: str | None = None
    changes_since: datetime | None = None
    changes_before: datetime | None = None
    user_id: str | None = None
    project_id: str | None = None
    limit: int | None = None
    marker: str | None = None  # a migration's uuid


class MigrationService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list_migrations(self, ctx: RequestContext,
                        where: MigrationFilter) -> list[models.Migration]:
        """Newest first (Nova's order: created_at, then id, descending)."""
        query = sa.select(Mig)
        for column, value in ((Mig.status, where.status), (Mig.instance_id, where.instance_id),
                              (Mig.migration_type, where.migration_type),
                              (Mig.source_compute, where.source_compute),
                              (Mig.user_id, where.user_id), (Mig.project_id, where.project_id)):
            if value is not None:
                query = query.where(column == value)
        if where.host is not None:
            query = query.where(sa.or_(Mig.source_compute == where.host,
                                       Mig.dest_compute == where.host))
        if where.changes_since is not None:
            query = query.where(Mig.updated_at >= where.changes_since)
        if where.changes_before is not None:
            query = query.where(Mig.updated_at <= where.changes_before)
        with self.db.reading() as tx:
            if where.marker is not None:
                mark = tx.scalars(sa.select(Mig).where(Mig.uuid == where.marker)).first()
                if mark is None:
                    raise BadRequest(f"Marker {where.marker} could not be found.")
                query = query.where(sa.or_(Mig.created_at < mark.created_at, sa.and_(
                    Mig.created_at == mark.created_at, Mig.id < mark.id)))
            query = query.order_by(Mig.created_at.desc(), Mig.id.desc())
            if where.limit is not None:
                query = query.limit(where.limit)
            return list(tx.scalars(query))

    def of_server(self, ctx: RequestContext, server_id: str,
                  migration_id: int | None = None) -> list[models.Migration]:
        """The server's live migrations under way (one, by its id, or NotFound)."""
        with self.db.reading() as tx:
            if tx.scalar(sa.select(models.Instance.id).where(
                    models.Instance.id == server_id, models.Instance.deleted.is_(False))) is None:
                raise NotFound(f"Instance {server_id} could not be found.")
            query = sa.select(Mig).where(Mig.instance_id == server_id,
                                         Mig.migration_type == "live-migration",
                                         Mig.status.in_(IN_PROGRESS))
            if migration_id is not None:
                query = query.where(Mig.id == migration_id)
            found = list(tx.scalars(query.order_by(Mig.created_at.desc(), Mig.id.desc())))
        if migration_id is not None and not found:
            raise NotFound(f"In-progress live migration {migration_id} is not found for "
                           f"server {server_id}.")
        return found
