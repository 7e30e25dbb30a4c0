"""Image tasks, as Glance keeps them: one per import (type ``api_image_import``), from
``pending`` through ``processing`` to ``success`` or ``failure``, kept for two days after
they end (Glance's ``task_time_to_live``) and listed newest first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from labs.common.context import RequestContext
from labs.common.db import Database
from labs.common.errors import BadRequest, NotFound
from labs.image import models
from labs.image.lookup import utcnow

T = models.Task
STATUSES = ("pending", "processing", "success", "failure")
#: The task types a list may filter on (Glance takes only this one, the old task API's).
TYPES = ("import",)
SORT_KEYS = ("created_at", "updated_at", "id", "type", "status")
TIME_TO_LIVE = timedelta(hours=48)


@dataclass(frozen=True)
class TaskFilter:
    status: str | None = None
    type: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "desc"
    limit: int = 25
    marker: str | None = None


def _owned(ctx: RequestContext) -> sa.ColumnElement[bool]:
    """Tasks the caller sees: an admin all, anyone else its project's."""
    if ctx.is_admin:
        return sa.true()
    return T.owner == ctx.project_id if ctx.project_id else sa.false()


class ImageTasks:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, ctx: RequestContext, image_id: str, task_input: dict[str, Any],
               request_id: str | None) -> models.Task:
        now = utcnow()
        row = T(id=str(uuid.uuid4()), type="api_image_import", status="pending",
                owner=ctx.project_id, image_id=image_id, user_id=ctx.user_id,
                request_id=request_id, input=task_input, result=None, message="",
                created_at=now, updated_at=now, expires_at=None)
        with self.db.transaction() as tx:
            tx.add(row)
        return row

    def advance(self, task_id: str, status: str, message: str = "",
                result: dict[str, Any] | None = None) -> None:
        """The task moves on; an ended one gets its expiry."""
        now = utcnow()
        values: dict[str, Any] = {"status": status, "updated_at": now, "message": message}
        if status in ("success", "failure"):
            values.update(result=result, expires_at=now + TIME_TO_LIVE)
        with self.db.transaction() as tx:
            tx.execute(sa.update(T).where(T.id == task_id).values(**values))

    def get(self, ctx: RequestContext, task_id: str) -> models.Task:
        with self.db.reading() as tx:
            row = tx.scalars(sa.select(T).where(T.id == task_id, _owned(ctx))).first()
        if row is None:
            raise NotFound(f"Task with the given id {task_id} not found")
        return row

    def of_image(self, image_id: str) -> list[models.Task]:
        with self.db.reading() as tx:
            return list(tx.scalars(sa.select(T).where(T.image_id == image_id)
                                   .order_by(T.created_at.desc(), T.id.desc())))

    def list_tasks(self, ctx: RequestContext, where: TaskFilter) -> list[models.Task]:
        column = getattr(T, where.sort_key)
        up = where.sort_dir == "asc"
        with self.db.reading() as tx:
            query = sa.select(T).where(_owned(ctx), sa.or_(T.expires_at.is_(None),
                                                           T.expires_at > utcnow()))
            if where.status is not None:
                query = query.where(T.status == where.status)
            if where.type is not None:
                query = query.where(T.type == where.type)
            if where.marker is not None:
                marker = tx.scalars(sa.select(T).where(T.id == where.marker,
                                                       _owned(ctx))).first()
                if marker is None:
                    raise BadRequest(f"Invalid marker. Task {where.marker} could not be "
                                     "found.")
                value = getattr(marker, where.sort_key)
                later = (column > value) if up else (column < value)
                tie = (T.id > marker.id) if up else (T.id < marker.id)
                query = query.where(sa.or_(later, sa.and_(column == value, tie)))
            order = (column.asc(), T.id.asc()) if up else (column.desc(), T.id.desc())
            return list(tx.scalars(query.order_by(*order).limit(where.limit)))
