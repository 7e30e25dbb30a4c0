"""Finding an image as a caller may see it: visibility, ownership, and the image with its
tags as handlers render it. Records, members and data all look images up this way."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.context import RequestContext
from labs.common.errors import Forbidden, NotFound
from labs.image import models

I = models.Image  # noqa: E741


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class ImageView:
    """An image with its tags, as handlers render it."""

    row: models.Image
    tags: list[str] = field(default_factory=list)


def mine(ctx: RequestContext) -> sa.ColumnElement[bool]:
    """Images the caller's project owns (none for a caller without a project)."""
    return I.owner == ctx.project_id if ctx.project_id else sa.false()


def visible(ctx: RequestContext, member_status: str = "all") -> sa.ColumnElement[bool]:
    """What the caller may see: public and community images, its own, and shared ones it
    is a member of (in ``member_status``, any status for showing one)."""
    if ctx.is_admin:
        return sa.true()
    shared = sa.select(models.Member.image_id).where(models.Member.member == ctx.project_id)
    if member_status != "all":
        shared = shared.where(models.Member.status == member_status)
    return sa.or_(I.visibility.in_(("public", "community")), mine(ctx),
                  sa.and_(I.visibility == "shared", I.id.in_(shared)))


def find_image(tx: Session, ctx: RequestContext, image_id: str) -> models.Image:
    """The image, not deleted and visible to the caller; NotFound otherwise."""
    row = tx.scalars(sa.select(I).where(I.id == image_id, I.status != "deleted",
                                        visible(ctx))).first()
    if row is None:
        raise NotFound(f"No image found with ID {image_id}")
    return row


def check_owner(ctx: RequestContext, row: models.Image) -> None:
    """Only the owner's project (or an admin) changes an image."""
    if not ctx.is_admin and (ctx.project_id is None or row.owner != ctx.project_id):
        raise Forbidden(f"You are not permitted to modify image {row.id}.")


def tags_of(tx: Session, image_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {i: [] for i in image_ids}
    for tag in tx.scalars(sa.select(models.Tag).where(models.Tag.image_id.in_(image_ids))
                          .order_by(models.Tag.value)):
        out[tag.image_id].append(tag.value)
    return out


def view_of(tx: Session, row: models.Image) -> ImageView:
    return ImageView(row, tags_of(tx, [row.id])[row.id])
