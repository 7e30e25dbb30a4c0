"""Image records: create, show, list, change, deactivate, tag and delete, each as the
caller may (visibility and ownership from lookup.py), with Glance's status codes."""

from __future__ import annotations

import operator as operator_module
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.context import RequestContext
from labs.common.db import Database, save_unique
from labs.common.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge
from labs.image import models
from labs.image.lookup import (
    I,
    ImageView,
    check_owner,
    find_image,
    mine,
    tags_of,
    utcnow,
    view_of,
    visible,
)
from labs.image.stores.base import ImageStore
from labs.image.uploads import transition

#: Attributes a client may never set or change.
READ_ONLY = frozenset({"id", "status", "checksum", "os_hash_algo", "os_hash_value", "size",
                       "virtual_size", "owner", "created_at", "updated_at", "file", "schema",
                       "self", "locations", "direct_url", "deleted", "deleted_at", "stores"})
#: Columns a client may set; everything else is an extra property.
SETTABLE = ("name", "visibility", "protected", "os_hidden", "disk_format", "container_format",
            "min_disk", "min_ram")
VISIBILITIES = ("public", "private", "shared", "community")
#: Glance's image_property_quota and image_tag_quota.
MAX_PROPERTIES = 128
MAX_TAGS = 128
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id",
             "created_at", "updated_at", "visibility", "owner", "min_disk", "min_ram")



@dataclass(frozen=True)
class ImageFilter:
    #: (column, value) pairs an image must equal (name, status, owner, disk_format, ...)
    columns: tuple[tuple[str, str], ...] = ()
    #: (column, number) pairs: min_disk, min_ram, virtual_size
    numbers: tuple[tuple[str, int], ...] = ()
    #: (column, operator, moment): created_at or updated_at, gt/gte/lt/lte/eq/neq
    times: tuple[tuple[str, str, datetime], ...] = ()
    #: a visibility, "all", or None: what Glance lists when none is asked for
    visibility: str | None = None
    #: which shared images a member lists: "pending", "accepted", "rejected" or "all"
    member_status: str = "accepted"
    tags: tuple[str, ...] = ()
    ids: tuple[str, ...] | None = None
    #: hidden images are listed only when asked for, and then only they
    os_hidden: bool = False
    protected: bool | None = None
    size_min: int | None = None
    size_max: int | None = None
    #: (name, value) pairs of extra properties an image must have
    properties: tuple[tuple[str, str], ...] = ()
    sort: tuple[tuple[str, str], ...] = (("created_at", "desc"),)
    limit: int = 25
    marker: str | None = None


class ImageRecords:
    """The images' records (and tags) in the image database; deleting one removes its
    data from `store` and what it staged from `staging`."""

    def __init__(self, db: Database, store: ImageStore, staging: ImageStore) -> None:
        self.db = db
        self.store = store
        self.staging = staging

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
            return view_of(tx, row)

    @staticmethod
    def _check_settable(ctx: RequestContext, fields: dict[str, Any]) -> None:
        for key in fields:
            if key in READ_ONLY and key != "id":
                raise Forbidden(f"Attribute '{key}' is read-only.")
        if fields.get("visibility") == "public" and not ctx.is_admin:
            raise Forbidden("Only an admin may make an image public.")

    def get(self, ctx: RequestContext, image_id: str) -> ImageView:
        with self.db.reading() as tx:
            return view_of(tx, find_image(tx, ctx, image_id))

    def record(self, ctx: RequestContext, image_id: str) -> models.Image:
        """The image's row without its tags (one query), for a caller that needs only
        its columns, such as the compute API checking the image of a new server."""
        with self.db.reading() as tx:
            return find_image(tx, ctx, image_id)

    def list_images(self, ctx: RequestContext, where: ImageFilter) -> list[ImageView]:
        with self.db.reading() as tx:
            # shared images are listed once accepted (or as member_status says)
            query = sa.select(I).where(I.status != "deleted",
                                       visible(ctx, where.member_status))
            if where.visibility is None:
                # community images are listed only when asked for, or to their owner
                query = query.where(sa.or_(I.visibility != "community", mine(ctx)))
            elif where.visibility != "all":
                query = query.where(I.visibility == where.visibility)
            query = query.where(*_matches(where))
            if where.ids is not None:
                query = query.where(I.id.in_(where.ids))
            query = query.where(I.os_hidden.is_(where.os_hidden))
            for tag in where.tags:
                query = query.where(I.id.in_(sa.select(models.Tag.image_id).where(
                    models.Tag.value == tag)))
            query = self._page(tx, ctx, query, where)
            rows = list(tx.scalars(query.limit(where.limit)))
            tags = tags_of(tx, [r.id for r in rows])
            return [ImageView(r, tags[r.id]) for r in rows]

    def _page(self, tx: Session, ctx: RequestContext, query: sa.Select[Any],
              where: ImageFilter) -> sa.Select[Any]:
        keys = [*where.sort, ("id", where.sort[-1][1])] if where.sort[-1][0] != "id" else \
            list(where.sort)
        if where.marker is not None:
            marker = tx.scalars(sa.select(I).where(I.id == where.marker,
                                                   visible(ctx))).first()
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
            row = find_image(tx, ctx, image_id)
            check_owner(ctx, row)
            tags = set(tags_of(tx, [row.id])[row.id])
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
            return view_of(tx, row)

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        for _ in range(3):  # an upload may finish in between: look again
            with self.db.transaction() as tx:
                row = find_image(tx, ctx, image_id)
                check_owner(ctx, row)
                if row.protected:
                    raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
                deleted = transition(tx, image_id, row.status, status="deleted",
                                           location=None, size=None, reserved=0)
            if deleted:
                if row.location:
                    self.store.delete(row.location)
                if row.status in ("uploading", "importing"):
                    self.staging.delete(row.id)
                return
        raise Conflict(f"Image {image_id} kept changing while being deleted; try again.")

    def set_active(self, ctx: RequestContext, image_id: str, active: bool) -> None:
        """Deactivate or reactivate (admins and owners, as Glance's defaults)."""
        with self.db.transaction() as tx:
            row = find_image(tx, ctx, image_id)
            check_owner(ctx, row)
            want = "active" if active else "deactivated"
            if row.status == want:
                return  # as Glance: nothing to do
            if row.status not in ("active", "deactivated") or \
                    not transition(tx, image_id, row.status, status=want):
                # Glance answers 403 here
                raise Forbidden(f"Not allowed to {'reactivate' if active else 'deactivate'} "
                                f"an image in status '{row.status}'.")

    def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        with self.db.transaction() as tx:
            row = find_image(tx, ctx, image_id)
            check_owner(ctx, row)
            if tx.get(models.Tag, (image_id, tag)) is None:
                count = tx.scalar(sa.select(sa.func.count()).where(
                    models.Tag.image_id == image_id))
                if (count or 0) >= MAX_TAGS:
                    raise PayloadTooLarge(f"An image has at most {MAX_TAGS} tags.")
                save_unique(tx, f"tag {tag}", models.Tag(image_id=image_id, value=tag))
            row.updated_at = utcnow()

    def remove_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        with self.db.transaction() as tx:
            row = find_image(tx, ctx, image_id)
            check_owner(ctx, row)
            found = tx.get(models.Tag, (image_id, tag))
            if found is None:
                raise NotFound(f"Tag {tag} not found on image {image_id}.")
            tx.delete(found)
            row.updated_at = utcnow()


TIME_OPERATORS = {"gt": "gt", "gte": "ge", "lt": "lt", "lte": "le", "eq": "eq", "neq": "ne"}


def _matches(where: ImageFilter) -> list[sa.ColumnElement[bool]]:
    """The filters on columns, sizes and extra properties."""
    found: list[sa.ColumnElement[bool]] = [getattr(I, c) == v for c, v in where.columns]
    found += [getattr(I, c) == v for c, v in where.numbers]
    for column, operator, moment in where.times:
        found.append(getattr(operator_module, TIME_OPERATORS[operator])(getattr(I, column),
                                                                       moment))
    if where.protected is not None:
        found.append(I.protected.is_(where.protected))
    if where.size_min is not None:
        found.append(I.size >= where.size_min)
    if where.size_max is not None:
        found.append(I.size <= where.size_max)
    found += [I.properties[name].as_string() == value for name, value in where.properties]
    return found


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
