"""The image service: its three parts over one database and one store.

`records` (records.py: create, show, list, change, tag, delete), `members` (members.py:
sharing), `data` (data.py: upload, download, quota, format checks), `imports` (imports.py:
staging and interoperable import) and `tasks` (tasks.py: the imports' records). The image API
calls the parts; the rest of Labs holds an ImageService and uses the few methods below.
"""

from __future__ import annotations

import hashlib
from typing import Any

from labs.common.config import ConfigError
from labs.common.context import RequestContext
from labs.common.db import Database, upgrade
from labs.image import models
from labs.image.config import ImageOptions
from labs.image.data import ImageData
from labs.image.imports import ImageImports
from labs.image.lookup import ImageView
from labs.image.members import ImageMembers
from labs.image.records import ImageRecords
from labs.image.stores.base import ImageStore
from labs.image.tasks import ImageTasks
from labs.image.uploads import ImageQuota


class ImageService:
    def __init__(self, db: Database, options: ImageOptions, store: ImageStore,
                 staging: ImageStore) -> None:
        if options.hashing_algorithm not in hashlib.algorithms_available:
            raise ConfigError(f"[image] hashing_algorithm: {options.hashing_algorithm!r} is "
                              "not a hash this Python knows; use e.g. sha256 or sha512")
        self.db = db
        self.options = options
        self.store = store
        self.quota = ImageQuota(db, options)
        self.records = ImageRecords(db, self.store, staging)
        self.members = ImageMembers(db)
        self.data = ImageData(db, options, self.store, self.quota)
        self.tasks = ImageTasks(db)
        self.imports = ImageImports(self.data, staging, self.tasks)

    def prepare(self) -> None:
        upgrade(self.db, "image")

    def sweep_uploads(self) -> int:
        """At start: what a crashed upload left in ``saving`` (or a crashed stage in
        ``uploading``) goes back to ``queued``."""
        return self.data.sweep_uploads() + self.imports.sweep()

    def usage(self, project_id: str | None) -> tuple[int, int]:
        """Bytes the project's images hold (and reserve), and its quota."""
        with self.db.reading() as tx:
            return self.quota.usage(tx, project_id), self.options.project_quota_bytes

    def local_file(self, image_id: str) -> str | None:
        """A local file of an active image's data, for a compute agent on this host."""
        return self.data.local_file(image_id)

    def record(self, ctx: RequestContext, image_id: str) -> models.Image:
        """The image's row as `ctx` may see it (compute checks a new server's image)."""
        return self.records.record(ctx, image_id)

    def create(self, ctx: RequestContext, fields: dict[str, Any]) -> ImageView:
        """A new image record, still without data (compute records snapshots)."""
        return self.records.create(ctx, fields)
