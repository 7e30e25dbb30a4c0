"""The image service: records, visibility, members, uploads and downloads."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.context import RequestContext
from labs.common.db import Database, upgrade
from labs.common.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge
from labs.image import models
from labs.image.config import ImageOptions
from labs.image.formats import virtual_size
from labs.image.stores.base import ImageStore, StoreFull
from labs.image.stores.filesystem import FilesystemStore

I = models.Image  # noqa: E741

#: Attributes a client may never set or change.
READ_ONLY = frozenset({"id", "status", "checksum", "os_hash_algo", "os_hash_value", "size",
                       "virtual_size", "owner", "created_at", "updated_at", "file", "schema",
                       "self", "locations", "direct_url", "deleted", "deleted_at"})
#: Columns a client may set; everything else is an extra property.
SETTABLE = ("name", "visibility", "protected", "os_hidden", "disk_format", "container_format",
            "min_disk", "min_ram")
VISIBILITIES = ("public", "private", "shared", "community")
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id",
             "created_at", "updated_at", "visibility", "owner", "min_disk", "min_ram")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class ImageView:
    """An image with its tags, as handlers render it."""

    row: models.Image
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImageFilter:
    name: str | None = None
    status: str | None = None
    visibility: str | None = None
    owner: str | None = None
    member_status: str = "accepted"
    tags: tuple[str, ...] = ()
    ids: tuple[str, ...] | None = None
    os_hidden: bool = False
    sort: tuple[tuple[str, str], ...] = (("created_at", "desc"),)
    limit: int = 25
    marker: str | None = None


@dataclass(frozen=True)
class Download:
    view: ImageView
    chunks: Iterator[bytes]
    start: int
    end: int
    total: int


class ImageService:
    def __init__(self, db: Database, options: ImageOptions, data_dir: Path,
                 store: ImageStore | None = None) -> None:
        self.db = db
        self.options = options
        self.store = store or FilesystemStore(Path(options.store_dir or data_dir / "images"))

    def prepare(self) -> None:
        upgrade(self.db, "image")

    # -- who sees what -----------------------------------------------------------
    @staticmethod
    def _visible(ctx: RequestContext) -> sa.ColumnElement[bool]:
        if ctx.is_admin:
            return sa.true()
        shared = sa.select(models.Member.image_id).where(models.Member.member == ctx.project_id)
        return sa.or_(I.visibility.in_(("public", "community")), I.owner == ctx.project_id,
                      sa.and_(I.visibility == "shared", I.id.in_(shared)))

    def _get(self, tx: Session, ctx: RequestContext, image_id: str) -> models.Image:
        row = tx.scalars(sa.select(I).where(I.id == image_id, I.status != "deleted",
                                            self._visible(ctx))).first()
        if row is None:
            raise NotFound(f"No image found with ID {image_id}")
        return row

    @staticmethod
    def _check_owner(ctx: RequestContext, row: models.Image) -> None:
        if not ctx.is_admin and row.owner != ctx.project_id:
            raise Forbidden(f"You are not permitted to modify image {row.id}.")

    @staticmethod
    def _tags(tx: Session, image_ids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {i: [] for i in image_ids}
        for tag in tx.scalars(sa.select(models.Tag).where(models.Tag.image_id.in_(image_ids))
                              .order_by(models.Tag.value)):
            out[tag.image_id].append(tag.value)
        return out

    def _view(self, tx: Session, row: models.Image) -> ImageView:
        return ImageView(row, self._tags(tx, [row.id])[row.id])

    # -- records -----------------------------------------------------------------
    def create(self, ctx: RequestContext, fields: dict[str, Any]) -> ImageView:
        self._check_settable(ctx, fields)
        now = utcnow()
        image_id = fields.get("id") or str(uuid.uuid4())
        with self.db.transaction() as tx:
            if tx.get(I, image_id) is not None:
                raise Conflict(f"Image with identifier {image_id} already exists!")
            row = I(id=image_id, status="queued", owner=ctx.project_id,
                    visibility=fields.get("visibility") or "shared", created_at=now,
                    updated_at=now, properties={}, protected=False, os_hidden=False,
                    min_disk=0, min_ram=0, reserved=0)
            for key in SETTABLE:
                if key in fields:
                    setattr(row, key, fields[key])
            row.properties = {k: v for k, v in fields.items()
                              if k not in SETTABLE and k not in ("id", "tags")}
            tx.add(row)
            for tag in dict.fromkeys(fields.get("tags") or []):
                tx.add(models.Tag(image_id=image_id, value=tag))
            tx.flush()
            return self._view(tx, row)

    @staticmethod
    def _check_settable(ctx: RequestContext, fields: dict[str, Any]) -> None:
        for key in fields:
            if key in READ_ONLY and key != "id":
                raise Forbidden(f"Attribute '{key}' is read-only.")
        if fields.get("visibility") == "public" and not ctx.is_admin:
            raise Forbidden("Only an admin may make an image public.")

    def get(self, ctx: RequestContext, image_id: str) -> ImageView:
        with self.db.transaction() as tx:
            return self._view(tx, self._get(tx, ctx, image_id))

    def list_images(self, ctx: RequestContext, where: ImageFilter) -> list[ImageView]:
        with self.db.transaction() as tx:
            query = sa.select(I).where(I.status != "deleted")
            if where.visibility is None:
                # community images are listed only when asked for, shared ones once accepted
                member = sa.select(models.Member.image_id).where(
                    models.Member.member == ctx.project_id,
                    models.Member.status == where.member_status)
                query = query.where(sa.or_(
                    I.visibility == "public", I.owner == ctx.project_id,
                    sa.and_(I.visibility == "shared", I.id.in_(member)),
                    sa.and_(sa.literal(ctx.is_admin), I.visibility != "community")))
            else:
                query = query.where(I.visibility == where.visibility, self._visible(ctx))
            for column, value in ((I.name, where.name), (I.status, where.status),
                                  (I.owner, where.owner)):
                if value is not None:
                    query = query.where(column == value)
            if where.ids is not None:
                query = query.where(I.id.in_(where.ids))
            if not where.os_hidden:
                query = query.where(I.os_hidden.is_(False))
            for tag in where.tags:
                query = query.where(I.id.in_(sa.select(models.Tag.image_id).where(
                    models.Tag.value == tag)))
            query = self._page(tx, ctx, query, where)
            rows = list(tx.scalars(query.limit(where.limit)))
            tags = self._tags(tx, [r.id for r in rows])
            return [ImageView(r, tags[r.id]) for r in rows]

    def _page(self, tx: Session, ctx: RequestContext, query: sa.Select[Any],
              where: ImageFilter) -> sa.Select[Any]:
        keys = [*where.sort, ("id", where.sort[-1][1])] if where.sort[-1][0] != "id" else \
            list(where.sort)
        if where.marker is not None:
            marker = tx.scalars(sa.select(I).where(I.id == where.marker,
                                                   self._visible(ctx))).first()
            if marker is None:
                raise BadRequest(f"Marker {where.marker} could not be found.")
            # rows strictly after the marker in the sort order (keyset pagination)
            after: sa.ColumnElement[bool] = sa.false()
            for i, (key, direction) in enumerate(keys):
                column = getattr(I, key)
                value = getattr(marker, key)
                step = column > value if direction == "asc" else column < value
                equal = [getattr(I, k) == getattr(marker, k) for k, _ in keys[:i]]
                after = sa.or_(after, sa.and_(*equal, step))
            query = query.where(after)
        return query.order_by(*(getattr(I, k).asc() if d == "asc" else getattr(I, k).desc()
                                for k, d in keys))

    def update(self, ctx: RequestContext, image_id: str,
               changes: list[tuple[str, str, Any]]) -> ImageView:
        """Apply JSON-patch operations (op, attribute, value) as one change."""
        with self.db.transaction() as tx:
            row = self._get(tx, ctx, image_id)
            self._check_owner(ctx, row)
            tags = set(self._tags(tx, [row.id])[row.id])
            props = dict(row.properties or {})
            for op, name, value in changes:
                if name in READ_ONLY:
                    raise Forbidden(f"Attribute '{name}' is read-only.")
                if name == "tags":
                    tags = set(value) if op != "remove" else set()
                elif name in SETTABLE:
                    if op == "remove":
                        raise Forbidden(f"Attribute '{name}' cannot be removed.")
                    if name in ("disk_format", "container_format") and row.status != "queued":
                        raise Forbidden(f"Attribute '{name}' can be only replaced for a "
                                        "queued image.")
                    self._check_settable(ctx, {name: value})
                    setattr(row, name, value)
                elif op == "remove":
                    if name not in props:
                        raise Conflict(f"Property {name} does not exist.")
                    del props[name]
                else:
                    props[name] = value
            row.properties = props
            row.updated_at = utcnow()
            tx.execute(sa.delete(models.Tag).where(models.Tag.image_id == row.id))
            for tag in sorted(tags):
                tx.add(models.Tag(image_id=row.id, value=tag))
            tx.flush()
            return self._view(tx, row)

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        with self.db.transaction() as tx:
            row = self._get(tx, ctx, image_id)
            self._check_owner(ctx, row)
            if row.protected:
                raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
            location, row.location = row.location, None
            row.status, row.updated_at, row.size = "deleted", utcnow(), None
        if location:
            self.store.delete(location)

    def set_active(self, ctx: RequestContext, image_id: str, active: bool) -> None:
        """Deactivate or reactivate (admins and owners, as Glance's defaults)."""
        with self.db.transaction() as tx:
            row = self._get(tx, ctx, image_id)
            self._check_owner(ctx, row)
            want, allowed = ("active", ("active", "deactivated")) if active else \
                ("deactivated", ("active", "deactivated"))
            if row.status not in allowed:
                raise Conflict(f"Not allowed to {'reactivate' if active else 'deactivate'} "
                               f"an image in status '{row.status}'.")
            row.status, row.updated_at = want, utcnow()

    def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        with self.db.transaction() as tx:
            row = self._get(tx, ctx, image_id)
            self._check_owner(ctx, row)
            if tx.get(models.Tag, (image_id, tag)) is None:
                tx.add(models.Tag(image_id=image_id, value=tag))
            row.updated_at = utcnow()

    def remove_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        with self.db.transaction() as tx:
            row = self._get(tx, ctx, image_id)
            self._check_owner(ctx, row)
            found = tx.get(models.Tag, (image_id, tag))
            if found is None:
                raise NotFound(f"Tag {tag} not found on image {image_id}.")
            tx.delete(found)
            row.updated_at = utcnow()

    # -- data --------------------------------------------------------------------
    def usage(self, tx: Session, owner: str | None) -> int:
        used = tx.scalar(sa.select(sa.func.coalesce(sa.func.sum(I.size), 0) +
                                   sa.func.coalesce(sa.func.sum(I.reserved), 0)).where(
            I.owner == owner, I.status.in_(("active", "saving", "deactivated"))))
        return int(used or 0)

    def upload(self, ctx: RequestContext, image_id: str, chunks: Iterable[bytes],
               length: int | None) -> ImageView:
        """Stream data into a queued image: queued -> saving -> active.

        A failed or interrupted upload leaves no file; the image goes back to
        ``queued`` (too large) or to ``killed`` (the data stopped or broke).
        """
        with self.db.transaction() as tx:
            row = tx.scalars(sa.select(I).where(I.id == image_id, self._visible(ctx))
                             .with_for_update()).first()
            if row is None:
                raise NotFound(f"No image found with ID {image_id}")
            self._check_owner(ctx, row)
            if row.status != "queued":
                raise Conflict(f"Image status transition from '{row.status}' to 'saving' is "
                               "not allowed: data can only be uploaded to a queued image.")
            room = min(self.options.max_image_size,
                       self.options.project_quota_bytes - self.usage(tx, row.owner))
            if length is not None and length > room:
                raise PayloadTooLarge(f"Image size {length} exceeds the {room} bytes left "
                                      "in the project's image storage quota.")
            row.status, row.reserved, row.updated_at = "saving", length or 0, utcnow()
        try:
            stored = self.store.write(image_id, chunks, room)
        except StoreFull as exc:
            self._fail_upload(image_id, "queued")
            raise PayloadTooLarge(f"Image exceeds the {room} bytes left in the project's "
                                  "image storage quota.") from exc
        except BaseException:
            self._fail_upload(image_id, "killed")
            raise
        head = b"".join(self.store.open(stored.location, 0, 512))
        with self.db.transaction() as tx:
            row = tx.get(I, image_id)
            if row is None or row.status != "saving":
                self.store.delete(stored.location)
                raise Conflict(f"Image {image_id} was deleted during the upload.")
            row.status, row.reserved, row.updated_at = "active", 0, utcnow()
            row.size, row.location = stored.size, stored.location
            row.checksum, row.os_hash_algo, row.os_hash_value = stored.md5, "sha512", \
                stored.sha512
            row.virtual_size = virtual_size(row.disk_format, head, stored.size)
            tx.flush()
            return self._view(tx, row)

    def _fail_upload(self, image_id: str, status: str) -> None:
        with self.db.transaction() as tx:
            row = tx.get(I, image_id)
            if row is not None and row.status == "saving":
                row.status, row.reserved, row.updated_at = status, 0, utcnow()

    def download(self, ctx: RequestContext, image_id: str, start: int | None = None,
                 end: int | None = None) -> Download:
        """Stream an active image, or bytes ``start``..``end`` (inclusive) of it."""
        with self.db.transaction() as tx:
            row = self._get(tx, ctx, image_id)
            view = self._view(tx, row)
        if row.status == "deactivated" and not ctx.is_admin:
            raise Forbidden("The requested image has been deactivated. Image data download "
                            "is forbidden.")
        if row.status != "active" or row.location is None or row.size is None:
            raise NoContent(f"Image {image_id} has no data.")
        first = start or 0
        last = row.size - 1 if end is None else min(end, row.size - 1)
        if first > last or first >= row.size:
            raise RangeNotSatisfiable(f"Requested range {start}-{end} is not satisfiable for "
                                      f"an image of {row.size} bytes.")
        chunks = self.store.open(row.location, first, last + 1, self.options.chunk_size)
        return Download(view, chunks, first, last, row.size)

    # -- members -----------------------------------------------------------------
    def _shared_image(self, tx: Session, ctx: RequestContext, image_id: str) -> models.Image:
        row = self._get(tx, ctx, image_id)
        if row.visibility != "shared":
            raise Forbidden(f"Image {image_id} is not shared: only shared images have "
                            "members. Set its visibility to 'shared' first.")
        return row

    def add_member(self, ctx: RequestContext, image_id: str, member: str) -> models.Member:
        with self.db.transaction() as tx:
            row = self._shared_image(tx, ctx, image_id)
            self._check_owner(ctx, row)
            if tx.get(models.Member, (image_id, member)) is not None:
                raise Conflict(f"Member {member} already exists on image {image_id}.")
            now = utcnow()
            found = models.Member(image_id=image_id, member=member, status="pending",
                                  created_at=now, updated_at=now)
            tx.add(found)
            return found

    def list_members(self, ctx: RequestContext, image_id: str) -> list[models.Member]:
        with self.db.transaction() as tx:
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
            self._check_owner(ctx, row)
            found = tx.get(models.Member, (image_id, member))
            if found is None:
                raise NotFound(f"Member {member} not found on image {image_id}.")
            tx.delete(found)


class NoContent(Conflict):
    """The image has no data yet (Glance answers 204 here)."""

    code = 204


class RangeNotSatisfiable(BadRequest):
    code = 416
    title = "Requested Range Not Satisfiable"
