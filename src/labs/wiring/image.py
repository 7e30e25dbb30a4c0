"""The image service for a process: its records in the site's database, its bytes in
the store ``[image] store_dir`` names (under the data directory unless set); and
compute's view of it when both run in one process."""

from __future__ import annotations

import contextlib
from pathlib import Path

from labs.common.context import RequestContext
from labs.common.db import Database
from labs.common.errors import Forbidden, NotFound
from labs.common.runner import Site
from labs.compute.api.images import ImageInfo, ImageLookup
from labs.image.config import ImageOptions
from labs.image.models import Image
from labs.image.records import ImageFilter
from labs.image.service import ImageService
from labs.image.stores.filesystem import FilesystemStore


def new_images(db: Database, options: ImageOptions, data_dir: Path) -> ImageService:
    store = FilesystemStore(Path(options.store_dir or data_dir / "images"))
    return ImageService(db, options, store, FilesystemStore(data_dir / "image-staging"))


def open_images(site: Site, db: Database) -> ImageService:
    return new_images(db, site.config.group(ImageOptions), site.data_dir)


def info_of(row: Image) -> ImageInfo:
    return ImageInfo(id=row.id, name=row.name or "", status=row.status,
                     min_disk=row.min_disk, min_ram=row.min_ram, size=row.size or 0,
                     virtual_size=row.virtual_size or 0, disk_format=row.disk_format or "raw",
                     properties=dict(row.properties or {}), created_at=row.created_at,
                     updated_at=row.updated_at)


class LocalImages(ImageLookup):
    """Compute's image lookup over the image service in the same process (``labs up``,
    ``labs serve compute-api`` beside the image tables)."""

    def __init__(self, service: ImageService, url: str | None = None) -> None:
        self.service = service
        self.url = url

    def find(self, ctx: RequestContext, image_id: str) -> ImageInfo | None:
        try:
            row = self.service.record(ctx, image_id)
        except NotFound:
            return None
        return info_of(row)

    def list_images(self, ctx: RequestContext, limit: int,
                    marker: str | None = None) -> list[ImageInfo]:
        views = self.service.records.list_images(ctx, ImageFilter(limit=limit,
                                                                  marker=marker))
        return [info_of(view.row) for view in views]

    def delete_image(self, ctx: RequestContext, image_id: str) -> None:
        self.service.records.delete(ctx, image_id)

    def create_snapshot(self, ctx: RequestContext, name: str, disk_format: str,
                        properties: dict[str, str]) -> str:
        # the image's own fields last: no property may stand in for one
        view = self.service.create(ctx, {**properties, "name": name,
                                         "disk_format": disk_format,
                                         "container_format": "bare", "visibility": "private"})
        return str(view.row.id)

    def discard_image(self, ctx: RequestContext, image_id: str) -> None:
        with contextlib.suppress(NotFound, Forbidden):  # gone, or protected meanwhile
            self.service.records.delete(ctx, image_id)

    def upload_url(self) -> str | None:
        return self.url
