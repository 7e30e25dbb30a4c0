"""The image service: records, visibility, members, uploads and downloads."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.config import ConfigError
from labs.common.context import RequestContext
from labs.common.db import Database, save_unique, upgrade
from labs.common.diskimage.format_inspector import ImageFormatError, Inspection
from labs.common.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge
from labs.image import models
from labs.image.config import ImageOptions
from labs.image.stores.base import ImageStore, StoreFull
from labs.image.stores.filesystem import FilesystemStore
from labs.image.uploads import ImageQuota, UploadStream, transition

I = models.Image  # noqa: E741

#: Attributes a client may never set or change.
READ_ONLY = frozenset({"id", "status", "checksum", "os_hash_algo", "os_hash_value", "size",
                       "virtual_size", "owner", "created_at", "updated_at", "file", "schema",
                       "self", "locations", "direct_url", "deleted", "deleted_at"})
#: Columns a client may set; everything else is an extra property.
SETTABLE = ("name", "visibility", "protected", "os_hidden", "disk_format", "container_format",
            "min_disk", "min_ram")
VISIBILITIES = ("public", "private", "shared", "community")
#: Glance's image_property_quota and image_tag_quota.
MAX_PROPERTIES = 128
MAX_TAGS = 128
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
    #: a visibility, "all", or None: what Glance lists when none is asked for
    visibility: str | None = None
    owner: str | None = None
    #: which shared images a member lists: "pending", "accepted", "rejected" or "all"
    member_status: str = "accepted"
    tags: tuple[str, ...] = ()
    ids: tuple[str, ...] | None = None
    #: hidden images are listed only when asked for, and then only they
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
        if options.hashing_algorithm not in hashlib.algorithms_available:
            raise ConfigError(f"[image] hashing_algorithm: {options.hashing_algorithm!r} is "
                              "not a hash this Python knows; use e.g. sha256 or sha512")
        self.db = db
        self.options = options
        self.store = store or FilesystemStore(Path(options.store_dir or data_dir / "images"))
        self.quota = ImageQuota(db, options)

    def prepare(self) -> None:
        upgrade(self.db, "image")

    # -- who sees what -----------------------------------------------------------
    @staticmethod
    def _mine(ctx: RequestContext) -> sa.ColumnElement[bool]:
        """Images the caller's project owns (none for a caller without a project)."""
        return I.owner == ctx.project_id if ctx.project_id else sa.false()

    @classmethod
    def _visible(cls, ctx: RequestContext, member_status: str = "all"
                 ) -> sa.ColumnElement[bool]:
        """What the caller may see: public and community images, its own, and shared
        ones it is a member of (in ``member_status``, any status for showing one)."""
        if ctx.is_admin:
            return sa.true()
        shared = sa.select(models.Member.image_id).where(models.Member.member == ctx.project_id)
        if member_status != "all":
            shared = shared.where(models.Member.status == member_status)
        return sa.or_(I.visibility.in_(("public", "community")), cls._mine(ctx),
                      sa.and_(I.visibility == "shared", I.id.in_(shared)))

    def _get(self, tx: Session, ctx: RequestContext, image_id: str) -> models.Image:
        row = tx.scalars(sa.select(I).where(I.id == image_id, I.status != "deleted",
                                            self._visible(ctx))).first()
        if row is None:
            raise NotFound(f"No image found with ID {image_id}")
        return row

    @staticmethod
    def _check_owner(ctx: RequestContext, row: models.Image) -> None:
        if not ctx.is_admin and (ctx.project_id is None or row.owner != ctx.project_id):
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
            save_unique(tx, f"image {image_id}", row)
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
        with self.db.reading() as tx:
            return self._view(tx, self._get(tx, ctx, image_id))

    def local_file(self, image_id: str) -> str | None:
        """A local file of an active image's data, for a compute agent on the same host
        (None: no such image, not active, or a store without local files)."""
        with self.db.reading() as tx:
            row = tx.get(I, image_id)
        if row is None or row.status != "active" or not row.location:
            return None
        return self.store.path(row.location)

    def record(self, ctx: RequestContext, image_id: str) -> models.Image:
        """The image's row without its tags (one query), for a caller that needs only
        its columns, such as the compute API checking the image of a new server."""
        with self.db.reading() as tx:
            return self._get(tx, ctx, image_id)

    def list_images(self, ctx: RequestContext, where: ImageFilter) -> list[ImageView]:
        with self.db.reading() as tx:
            # shared images are listed once accepted (or as member_status says)
            query = sa.select(I).where(I.status != "deleted",
                                       self._visible(ctx, where.member_status))
            if where.visibility is None:
                # community images are listed only when asked for, or to their owner
                query = query.where(sa.or_(I.visibility != "community", self._mine(ctx)))
            elif where.visibility != "all":
                query = query.where(I.visibility == where.visibility)
            for column, value in ((I.name, where.name), (I.status, where.status),
                                  (I.owner, where.owner)):
                if value is not None:
                    query = query.where(column == value)
            if where.ids is not None:
                query = query.where(I.id.in_(where.ids))
            query = query.where(I.os_hidden.is_(where.os_hidden))
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
                step = _after(getattr(I, key), getattr(marker, key), direction)
                equal = [_same(getattr(I, k), getattr(marker, k)) for k, _ in keys[:i]]
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
                elif op != "add" and name not in props:
                    raise Conflict(f"Property {name} does not exist.")
                elif op == "remove":
                    del props[name]
                else:
                    props[name] = value
            if len(props) > MAX_PROPERTIES:
                raise PayloadTooLarge(f"An image has at most {MAX_PROPERTIES} properties.")
            if len(tags) > MAX_TAGS:
                raise PayloadTooLarge(f"An image has at most {MAX_TAGS} tags.")
            row.properties = props
            row.updated_at = utcnow()
            tx.execute(sa.delete(models.Tag).where(models.Tag.image_id == row.id))
            for tag in sorted(tags):
                tx.add(models.Tag(image_id=row.id, value=tag))
            tx.flush()
            return self._view(tx, row)

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        for _ in range(3):  # an upload may finish in between: look again
            with self.db.transaction() as tx:
                row = self._get(tx, ctx, image_id)
                self._check_owner(ctx, row)
                if row.protected:
                    raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
                deleted = self._transition(tx, image_id, row.status, status="deleted",
                                           location=None, size=None, reserved=0)
            if deleted:
                if row.location:
                    self.store.delete(row.location)
                return
        raise Conflict(f"Image {image_id} kept changing while being deleted; try again.")

    def set_active(self, ctx: RequestContext, image_id: str, active: bool) -> None:
        """Deactivate or reactivate (admins and owners, as Glance's defaults)."""
        with self.db.transaction() as tx:
            row = self._get(tx, ctx, image_id)
            self._check_owner(ctx, row)
            want = "active" if active else "deactivated"
            if row.status == want:
                return  # as Glance: nothing to do
            if row.status not in ("active", "deactivated") or \
                    not self._transition(tx, image_id, row.status, status=want):
                # Glance answers 403 here
                raise Forbidden(f"Not allowed to {'reactivate' if active else 'deactivate'} "
                                f"an image in status '{row.status}'.")

    def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        with self.db.transaction() as tx:
            row = self._get(tx, ctx, image_id)
            self._check_owner(ctx, row)
            if tx.get(models.Tag, (image_id, tag)) is None:
                count = tx.scalar(sa.select(sa.func.count()).where(
                    models.Tag.image_id == image_id))
                if (count or 0) >= MAX_TAGS:
                    raise PayloadTooLarge(f"An image has at most {MAX_TAGS} tags.")
                save_unique(tx, f"tag {tag}", models.Tag(image_id=image_id, value=tag))
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
    def upload(self, ctx: RequestContext, image_id: str, chunks: Iterable[bytes],
               length: int | None) -> ImageView:
        """Stream data into a queued image: queued -> saving -> active.

        A failed or interrupted upload leaves no file; the image goes back to
        ``queued`` (too large, over quota, or data that fails inspection: 413 or 400,
        as Glance) or to ``killed`` (the data stopped or broke).
        """
        with self.db.transaction() as tx:
            row = tx.scalars(sa.select(I).where(I.id == image_id, self._visible(ctx))).first()
            if row is None:
                raise NotFound(f"No image found with ID {image_id}")
            self._check_owner(ctx, row)
            owner, disk_format = row.owner, row.disk_format
            self.quota.lock(tx, owner)  # before the claim below
            # queued -> saving in one conditional write: of two uploads, one wins
            if not self._transition(tx, image_id, "queued", status="saving"):
                raise Conflict(f"Image status transition from '{row.status}' to 'saving' is "
                               "not allowed: data can only be uploaded to a queued image.")
            room = self.quota.room(tx, owner, image_id)
            if length is not None and length > room:  # the rollback undoes the claim
                raise PayloadTooLarge(f"Image size {length} exceeds the {room} bytes left "
                                      "in the project's image storage quota.")
            self._transition(tx, image_id, "saving", reserved=length or 0)

        def verdict(found: Inspection) -> None:
            found.check(disk_format, self.options.max_virtual_size)

        stream = UploadStream(chunks, length or 0, self.options.chunk_size,
                              lambda size: self.quota.reserve(image_id, owner,
                                                             stream.wanted(size), size), verdict)
        try:
            stored = self.store.write(image_id, stream, self.options.max_image_size,
                                      self.options.hashing_algorithm)
        except StoreFull as exc:
            self._fail_upload(image_id, "queued")
            raise PayloadTooLarge(str(exc)) from None
        except ImageFormatError as exc:  # Glance: 400, and the image stays queued
            self._fail_upload(image_id, "queued")
            raise BadRequest(f"Image not accepted: {exc}") from None
        except BaseException:
            self._fail_upload(image_id, "killed")
            raise
        assert stream.inspection is not None  # the stream was read to its end
        with self.db.transaction() as tx:
            self.quota.lock(tx, owner)
            # the reservation covered every byte; checked again before the image goes
            # active, as the quota may have been lowered meanwhile
            over = stored.size > self.quota.room(tx, owner, image_id)
            if over:
                done = self._transition(tx, image_id, "saving", status="queued", reserved=0)
            else:
                done = self._transition(
                    tx, image_id, "saving", status="active", reserved=0, size=stored.size,
                    location=stored.location, checksum=stored.md5,
                    os_hash_algo=stored.hash_algo, os_hash_value=stored.hash_value,
                    virtual_size=stream.inspection.virtual_size)
            view = self._view(tx, self._row(tx, image_id)) if done and not over else None
        if view is None:
            self.store.delete(stored.location)
            if over and done:
                raise PayloadTooLarge(f"Image size {stored.size} exceeds the room left in "
                                      "the project's image storage quota.")
            raise Conflict(f"Image {image_id} was deleted during the upload.")
        return view

    def sweep_uploads(self) -> int:
        """Images left in ``saving`` by a crashed upload go back to ``queued`` (as after
        a failed upload), giving back their reservation and with their partial data
        removed; an upload still running (here or in another process) is left alone.
        How many were swept."""
        with self.db.reading() as tx:
            saving = list(tx.scalars(sa.select(I.id).where(I.status == "saving")))
        swept = 0
        for image_id in saving:
            if self.store.discard_upload(image_id):
                with self.db.transaction() as tx:
                    swept += self._transition(tx, image_id, "saving", status="queued",
                                              reserved=0)
        return swept

    def _fail_upload(self, image_id: str, status: str) -> None:
        with self.db.transaction() as tx:
            self._transition(tx, image_id, "saving", status=status, reserved=0)

    _transition = staticmethod(transition)

    @staticmethod
    def _row(tx: Session, image_id: str) -> models.Image:
        row = tx.scalars(sa.select(I).where(I.id == image_id)
                         .execution_options(populate_existing=True)).one()
        return row

    def download(self, ctx: RequestContext, image_id: str, start: int | None = None,
                 end: int | None = None, suffix: int | None = None) -> Download:
        """Stream an active image, or bytes ``start``..``end`` (inclusive) of it, or its
        last ``suffix`` bytes."""
        with self.db.reading() as tx:
            row = self._get(tx, ctx, image_id)
            view = self._view(tx, row)
        if row.status == "deactivated" and not ctx.is_admin:
            raise Forbidden("The requested image has been deactivated. Image data download "
                            "is forbidden.")
        if row.status not in ("active", "deactivated") or row.location is None or \
                row.size is None:
            raise NoContent(f"Image {image_id} has no data.")
        whole = start is None and end is None and suffix is None
        if suffix is not None:
            # the last 0 bytes are no bytes: unsatisfiable, as is any range of nothing
            start, end = (max(row.size - suffix, 0) if suffix else row.size), None
        first = start or 0
        last = row.size - 1 if end is None else min(end, row.size - 1)
        if not whole and (first > last or first >= row.size):
            raise RangeNotSatisfiable(f"The requested range is not satisfiable for an image "
                                      f"of {row.size} bytes.", row.size)
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
            self._check_owner(ctx, row)
            found = tx.get(models.Member, (image_id, member))
            if found is None:
                raise NotFound(f"Member {member} not found on image {image_id}.")
            tx.delete(found)


def _after(column: Any, value: Any, direction: str) -> sa.ColumnElement[bool]:
    """Rows strictly after ``value`` in this column's order. Both engines sort NULL
    first going up and last going down, and NULL compares to nothing."""
    if value is None:
        return column.is_not(None) if direction == "asc" else sa.false()
    if direction == "asc":
        return column > value  # type: ignore[no-any-return]
    return sa.or_(column < value, column.is_(None))


def _same(column: Any, value: Any) -> sa.ColumnElement[bool]:
    return column.is_(None) if value is None else column == value  # type: ignore[no-any-return]


class NoContent(Conflict):
    """The image has no data yet (Glance answers 204 here)."""

    code = 204


class RangeNotSatisfiable(BadRequest):
    code = 416
    title = "Requested Range Not Satisfiable"

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        #: the image's size, for ``Content-Range: bytes */size``
        self.size = size
