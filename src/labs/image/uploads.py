"""An upload's bytes on their way to the store: inspected and counted against the
project's image quota as they arrive.

The quota is held by a reservation on the image's row (`reserved`), which every
project's usage counts. A Content-Length upload reserves its length at the start; one
sent chunked (no length) grows its reservation in steps, under the project's lock, before
it takes bytes past what it holds, so parallel uploads never store more than the quota
together. A step reserves an eighth more than has arrived (at least a chunk, at most
MAX_STEP ahead), so a large upload takes few locks and holds little it does not use, and
never more than is left: the loser of a race for the last room fails (413) and gives its
reservation back at once.

The bytes are fed to a FormatInspector; after the last chunk the verdict is given before
the store makes the object (the store's `write` sees the error, removes what it wrote
and passes it on), so a refused image leaves nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database, affected
from labs.common.diskimage.format_inspector import FormatInspector, Inspection
from labs.common.errors import Conflict
from labs.image import models
from labs.image.config import ImageOptions
from labs.image.stores.base import StoreFull

I = models.Image  # noqa: E741

MAX_STEP = 64 << 20
#: Statuses whose data (or reservation) counts against the quota: staged data too.
HOLDING = ("active", "saving", "deactivated", "uploading", "importing")


class UploadStream:
    """The chunks of one upload as the store reads them. `grow(size)` reserves room for
    at least `size` bytes and returns what is now reserved, or raises; `verdict` checks
    the inspection after the last byte."""

    def __init__(self, chunks: Iterable[bytes], reserved: int, step: int,
                 grow: Callable[[int], int], verdict: Callable[[Inspection], None]) -> None:
        self._chunks, self._grow, self._verdict = chunks, grow, verdict
        self.reserved, self.step, self.size = reserved, step, 0
        self.inspector = FormatInspector()
        self.inspection: Inspection | None = None

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.size += len(chunk)
            if self.size > self.reserved:
                self.reserved = self._grow(self.size)
            self.inspector.feed(chunk)
            yield chunk
        self.inspection = self.inspector.result()
        self._verdict(self.inspection)

    def wanted(self, size: int) -> int:
        """What to reserve once `size` bytes have arrived: an eighth more, at least
        `step` and at most MAX_STEP more."""
        return size + min(max(size // 8, self.step), MAX_STEP)


class ImageQuota:
    """A project's image storage: what its images use, and the reservations of its
    running uploads, checked against `[image] project_quota_bytes`."""

    def __init__(self, db: Database, options: ImageOptions) -> None:
        self.db, self.options = db, options

    @staticmethod
    def usage(tx: Session, owner: str | None) -> int:
        used = tx.scalar(sa.select(sa.func.coalesce(sa.func.sum(I.size), 0) +
                                   sa.func.coalesce(sa.func.sum(I.reserved), 0)).where(
            I.owner == owner, I.status.in_(HOLDING)))
        return int(used or 0)

    @staticmethod
    def lock(tx: Session, owner: str | None) -> None:
        """Quota checks of one project take turns: on MariaDB by locking its images
        (always in the same order, so no deadlock); on SQLite the first write holds the
        database until the commit."""
        tx.execute(sa.select(I.id).where(I.owner == owner).order_by(I.id).with_for_update())

    def room(self, tx: Session, owner: str | None, image_id: str) -> int:
        """Bytes the image may hold: the project's quota less what its other images use
        (this one's reservation counts as its own), within the largest image size."""
        mine = tx.scalar(sa.select(I.reserved).where(I.id == image_id)) or 0
        return min(self.options.max_image_size,
                   self.options.project_quota_bytes - self.usage(tx, owner) + mine)

    def reserve(self, image_id: str, owner: str | None, wanted: int, needed: int,
                status: str = "saving") -> int:
        """Grow the running upload's reservation towards `wanted` bytes, at least to
        `needed`. With no room for `needed`, the image goes back to queued, giving its
        reservation back in the same transaction (so that a racing upload sees the room
        at once), and StoreFull. `status` is the upload's (``saving``, or ``uploading``
        while data is staged)."""
        with self.db.transaction() as tx:
            self.lock(tx, owner)
            room = self.room(tx, owner, image_id)
            if needed > room:
                transition(tx, image_id, status, status="queued", reserved=0)
                reserved = None
            elif not transition(tx, image_id, status,
                                reserved=(reserved := min(wanted, room))):
                raise Conflict(f"Image {image_id} was deleted during the upload.")
        if reserved is None:
            raise StoreFull(f"Image data exceeds the {room} bytes left in the project's "
                            "image storage quota.")
        return reserved


def transition(tx: Session, image_id: str, current: str, **values: Any) -> bool:
    """Change an image only if its status is still ``current`` (and say whether it
    did): the status machine holds even when requests race, on either engine."""
    result = tx.execute(sa.update(I).where(I.id == image_id, I.status == current)
                        .values(updated_at=datetime.now(UTC).replace(tzinfo=None), **values)
                        .execution_options(synchronize_session=False))
    return bool(affected(result))
