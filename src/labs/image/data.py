"""Image data: uploads (inspected and held to the project's quota as bytes arrive, see
uploads.py), downloads (whole or a byte range), and what a crashed upload left behind."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.context import RequestContext
from labs.common.db import Database
from labs.common.diskimage.format_inspector import ImageFormatError, Inspection
from labs.common.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge
from labs.image import models
from labs.image.config import ImageOptions
from labs.image.lookup import I, ImageView, check_owner, find_image, view_of, visible
from labs.image.stores.base import ImageStore, StoredObject, StoreFull
from labs.image.uploads import ImageQuota, UploadStream, transition


@dataclass(frozen=True)
class Download:
    view: ImageView
    chunks: Iterator[bytes]
    start: int
    end: int
    total: int


class ImageData:
    """The images' bytes in `store`, their state in the image database."""

    def __init__(self, db: Database, options: ImageOptions, store: ImageStore,
                 quota: ImageQuota) -> None:
        self.db = db
        self.options = options
        self.store = store
        self.quota = quota

    def local_file(self, image_id: str) -> str | None:
        """A local file of an active image's data, for a compute agent on the same host
        (None: no such image, not active, or a store without local files)."""
        with self.db.reading() as tx:
            row = tx.get(I, image_id)
        if row is None or row.status != "active" or not row.location:
            return None
        return self.store.path(row.location)

    def upload(self, ctx: RequestContext, image_id: str, chunks: Iterable[bytes],
               length: int | None) -> ImageView:
        """Stream data into a queued image: queued -> saving -> active.

        A failed or interrupted upload leaves no file; the image goes back to
        ``queued`` (too large, over quota, or data that fails inspection: 413 or 400,
        as Glance) or to ``killed`` (the data stopped or broke).
        """
        owner, disk_format = self._claim(ctx, image_id, length)

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
        return self._activate(image_id, owner, stored, stream.inspection)

    def _claim(self, ctx: RequestContext, image_id: str, length: int | None,
               to: str = "saving") -> tuple[str | None, str | None]:
        """queued -> saving (or `to`: uploading, to stage), reserving `length` bytes of
        the owner's quota when it is known; the image's owner and declared disk format."""
        with self.db.transaction() as tx:
            row = tx.scalars(sa.select(I).where(I.id == image_id, visible(ctx))).first()
            if row is None:
                raise NotFound(f"No image found with ID {image_id}")
            check_owner(ctx, row)
            owner, disk_format = row.owner, row.disk_format
            self.quota.lock(tx, owner)  # before the claim below
            # queued -> saving in one conditional write: of two uploads, one wins
            if not transition(tx, image_id, "queued", status=to):
                raise Conflict(f"Image status transition from '{row.status}' to '{to}' is "
                               "not allowed: data can only be uploaded to a queued image.")
            room = self.quota.room(tx, owner, image_id)
            if length is not None and length > room:  # the rollback undoes the claim
                raise PayloadTooLarge(f"Image size {length} exceeds the {room} bytes left "
                                      "in the project's image storage quota.")
            transition(tx, image_id, to, reserved=length or 0)
        return owner, disk_format

    def _activate(self, image_id: str, owner: str | None, stored: StoredObject,
                  inspection: Inspection, current: str = "saving") -> ImageView:
        """saving -> active with the stored object, unless the quota was lowered past it
        meanwhile (back to queued, 413) or the image was deleted (409); then the stored
        object is removed."""
        with self.db.transaction() as tx:
            self.quota.lock(tx, owner)
            # the reservation covered every byte; checked again before the image goes
            # active, as the quota may have been lowered meanwhile
            over = stored.size > self.quota.room(tx, owner, image_id)
            if over:
                done = transition(tx, image_id, current, status="queued", reserved=0)
            else:
                done = transition(
                    tx, image_id, current, status="active", reserved=0, size=stored.size,
                    location=stored.location, checksum=stored.md5,
                    os_hash_algo=stored.hash_algo, os_hash_value=stored.hash_value,
                    virtual_size=inspection.virtual_size)
            view = view_of(tx, self._row(tx, image_id)) if done and not over else None
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
                    swept += transition(tx, image_id, "saving", status="queued",
                                              reserved=0)
        return swept

    def _fail_upload(self, image_id: str, status: str, current: str = "saving") -> None:
        with self.db.transaction() as tx:
            transition(tx, image_id, current, status=status, reserved=0)

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
            row = find_image(tx, ctx, image_id)
            view = view_of(tx, row)
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
