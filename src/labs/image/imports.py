"""Interoperable image import (Glance's ``glance-direct``): data is staged first, then
imported into the store by a task.

- stage: queued -> uploading. The data goes to the staging area (a store of its own under
  the service's data directory) with the checks of an upload: the quota (the staged bytes
  stay reserved until the import ends), the largest image size and the format inspection.
  A failed stage leaves nothing and the image queued.
- import: uploading -> importing, a task records it (pending, processing, then success or
  failure), and a worker thread copies the staged data into the store, inspected again
  against the image's disk format. Success: active, and the staged data is removed. A
  failure sends the image back to queued with its staged data removed (as Glance reverts
  a failed import), and the task says why.

Labs has one store, named ``STORE_ID``, the default; ``copy-image`` (between stores) is not
among its import methods, and Glance answers a method it does not offer with 400.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa

from labs.common.context import RequestContext
from labs.common.diskimage.format_inspector import ImageFormatError, Inspection
from labs.common.errors import BadRequest, Conflict, PayloadTooLarge
from labs.image.data import ImageData
from labs.image.lookup import I, check_owner, find_image
from labs.image.stores.base import ImageStore, StoredObject, StoreFull
from labs.image.tasks import ImageTasks
from labs.image.uploads import UploadStream, transition

log = logging.getLogger("labs.image.imports")

STORE_ID = "local"
STORE_DESCRIPTION = "Image files on the cloud's own disk"
#: The import methods this cloud offers (Glance's ``enabled_import_methods``).
IMPORT_METHODS = ("glance-direct",)


class ImageImports:
    def __init__(self, data: ImageData, staging: ImageStore, tasks: ImageTasks) -> None:
        self.data, self.staging, self.tasks = data, staging, tasks
        self.db, self.options, self.quota = data.db, data.options, data.quota

    def _stream(self, chunks: Iterable[bytes], reserved: int, disk_format: str | None,
                grow: Callable[[int], int]) -> UploadStream:
        def verdict(found: Inspection) -> None:
            found.check(disk_format, self.options.max_virtual_size)
        return UploadStream(chunks, reserved, self.options.chunk_size, grow, verdict)

    def stage(self, ctx: RequestContext, image_id: str, chunks: Iterable[bytes],
              length: int | None) -> None:
        owner, disk_format = self.data._claim(ctx, image_id, length, to="uploading")
        def grow(size: int) -> int:
            return self.quota.reserve(image_id, owner, stream.wanted(size), size,
                                      status="uploading")
        stream = self._stream(chunks, length or 0, disk_format, grow)
        try:
            staged = self.staging.write(image_id, stream, self.options.max_image_size,
                                        self.options.hashing_algorithm)
        except StoreFull as exc:
            self.data._fail_upload(image_id, "queued", current="uploading")
            raise PayloadTooLarge(str(exc)) from None
        except ImageFormatError as exc:
            self.data._fail_upload(image_id, "queued", current="uploading")
            raise BadRequest(f"Image not accepted: {exc}") from None
        except BaseException:
            self.data._fail_upload(image_id, "queued", current="uploading")
            raise
        with self.db.transaction() as tx:  # hold exactly what was staged
            kept = transition(tx, image_id, "uploading", reserved=staged.size)
        if not kept:
            self.staging.delete(staged.location)
            raise Conflict(f"Image {image_id} was deleted while its data was staged.")

    def start(self, ctx: RequestContext, image_id: str, body: dict[str, Any],
              request_id: str | None) -> str:
        """Check the request as Glance does and start the import task; its id."""
        method = body["method"]["name"]
        if method not in IMPORT_METHODS:
            raise BadRequest(f"Unknown import method name '{method}'.")
        stores = body.get("stores")
        if body.get("all_stores"):
            stores = [STORE_ID]
        for store in stores or []:
            if store != STORE_ID:
                raise Conflict(f"Unknown scheme '{store}' found in URI")
        with self.db.transaction() as tx:
            row = find_image(tx, ctx, image_id)
            if row.status == "active":
                raise Conflict("Image with status active cannot be target for import")
            if row.status != "uploading":
                raise Conflict("Image needs to be staged before 'glance-direct' method can "
                               "be used")
            if not row.container_format:
                raise Conflict("'container_format' needs to be set before import")
            if not row.disk_format:
                raise Conflict("'disk_format' needs to be set before import")
            check_owner(ctx, row)
            owner, disk_format = row.owner, row.disk_format
            if not transition(tx, image_id, "uploading", status="importing"):
                raise Conflict(f"New operation on image '{image_id}' is not permitted as "
                               "prior operation is still in progress")
        task = self.tasks.create(ctx, image_id, {"image_id": image_id, "import_req": body,
                                                 "backend": [STORE_ID]}, request_id)
        threading.Thread(target=self.run, args=(task.id, image_id, owner, disk_format),
                         name=f"image-import-{image_id}", daemon=True).start()
        return task.id

    def run(self, task_id: str, image_id: str, owner: str | None,
            disk_format: str | None) -> None:
        """The import task: staged data -> store, then the image goes active."""
        self.tasks.advance(task_id, "processing")
        try:
            size = self.staging.size(image_id)
            stream = self._stream(self.staging.open(image_id, 0, None, self.options.chunk_size),
                                  size, disk_format, lambda _size: _no_growth(image_id))
            stored = self.data.store.write(image_id, stream, self.options.max_image_size,
                                           self.options.hashing_algorithm)
        except (OSError, StoreFull, ImageFormatError, Conflict) as exc:
            self._fail(task_id, image_id, f"Image import failed: {exc}")
            return
        assert stream.inspection is not None
        self._finish(task_id, image_id, owner, stored, stream.inspection)

    def _finish(self, task_id: str, image_id: str, owner: str | None,
                stored: StoredObject, inspection: Inspection) -> None:
        try:
            self.data._activate(image_id, owner, stored, inspection, current="importing")
        except (PayloadTooLarge, Conflict) as exc:
            self._fail(task_id, image_id, f"Image import failed: {exc}")
            return
        self.staging.delete(image_id)
        self.tasks.advance(task_id, "success", result={"image_id": image_id})

    def _fail(self, task_id: str, image_id: str, message: str) -> None:
        log.warning("import of image %s: %s", image_id, message)
        with self.db.transaction() as tx:
            transition(tx, image_id, "importing", status="queued", reserved=0)
        self.staging.delete(image_id)
        self.tasks.advance(task_id, "failure", message=message[:1000])


    def sweep(self) -> int:
        """At start: images a crash left half-staged go back to queued (a complete stage
        stays); an import it cut short leaves the image staged again (or queued, without
        its staged data) and its task failed."""
        with self.db.reading() as tx:
            found = list(tx.execute(sa.select(I.id, I.status).where(
                I.status.in_(("uploading", "importing")))))
        swept = 0
        for image_id, status in found:
            if not self.staging.discard_upload(image_id) or \
                    not self.data.store.discard_upload(image_id):
                continue  # still being written, here or by another process
            staged = self._staged(image_id)
            if status == "uploading" and staged:
                continue
            with self.db.transaction() as tx:
                values = {"status": "uploading"} if staged else {"status": "queued",
                                                                 "reserved": 0}
                swept += transition(tx, image_id, status, **values)
            if status == "importing":
                for task in self.tasks.of_image(image_id):
                    if task.status in ("pending", "processing"):
                        self.tasks.advance(task.id, "failure",
                                           message="The import was cut short by a restart.")
        return swept

    def _staged(self, image_id: str) -> bool:
        try:
            self.staging.size(image_id)
        except FileNotFoundError:
            return False
        return True


def _no_growth(image_id: str) -> int:
    """The staged data was counted in full when staged; it cannot grow on the way."""
    raise Conflict(f"The staged data of image {image_id} changed during the import.")
