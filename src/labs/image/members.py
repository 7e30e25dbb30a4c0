"""Members of shared images: the owner shares an image with a project, which accepts or
rejects it (Glance's image sharing)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.context import RequestContext
from labs.common.db import Database, save_unique
from labs.common.errors import Conflict, Forbidden, NotFound
from labs.image import models
from labs.image.lookup import check_owner, find_image, utcnow


class ImageMembers:
    """Who an image is shared with, in the image database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _shared_image(self, tx: Session, ctx: RequestContext, image_id: str) -> models.Image:
        row = find_image(tx, ctx, image_id)
        if row.visibility != "shared":
            raise Forbidden(f"Image {image_id} is not shared: only shared images have "
                            "members. Set its visibility to 'shared' first.")
        return row

    def add_member(self, ctx: RequestContext, image_id: str, member: str) -> models.Member:
        with self.db.transaction() as tx:
            row = self._shared_image(tx, ctx, image_id)
            check_owner(ctx, row)
            if tx.get(models.Member, (image_id, member)) is not None:
                raise Conflict(f"Member {member} already exists on image {image_id}.")
            now = utcnow()
            found = models.Member(image_id=image_id, member=member, status="pending",
                                  created_at=now, updated_at=now)
            save_unique(tx, f"member {member} of image {image_id}", found)
            return found

    def list_members(self, ctx: RequestContext, image_id: str) -> list[models.Member]:
        with self.db.reading() as tx:
            row = self._shared_image(tx, ctx, image_id)
            query = sa.select(models.Member).where(models.Member.image_id == image_id)
            if not ctx.is_admin and row.owner != ctx.project_id:
                query = query.where(models.Member.member == ctx.project_id)
            return list(tx.scalars(query.order_by(models.Member.created_at)))

    def get_member(self, ctx: RequestContext, image_id: str, member: str) -> models.Member:
        for found in self.list_members(ctx, image_id):
            if found.member == member:
                return found
        raise NotFound(f"Member {member} not found on image {image_id}.")

    def set_member_status(self, ctx: RequestContext, image_id: str, member: str,
                          status: str) -> models.Member:
        with self.db.transaction() as tx:
            self._shared_image(tx, ctx, image_id)
            found = tx.get(models.Member, (image_id, member))
            if found is None:
                raise NotFound(f"Member {member} not found on image {image_id}.")
            if member != ctx.project_id:
                raise Forbidden("Only the member project itself may accept or reject an image.")
            found.status, found.updated_at = status, utcnow()
            return found

    def remove_member(self, ctx: RequestContext, image_id: str, member: str) -> None:
        with self.db.transaction() as tx:
            row = self._shared_image(tx, ctx, image_id)
            check_owner(ctx, row)
            found = tx.get(models.Member, (image_id, member))
            if found is None:
                raise NotFound(f"Member {member} not found on image {image_id}.")
            tx.delete(found)
