"""The image service for a process: its records in the site's database, its bytes in
the store ``[image] store_dir`` names (under the data directory unless set)."""

from __future__ import annotations

from pathlib import Path

from labs.common.db import Database
from labs.common.runner import Site
from labs.image.config import ImageOptions
from labs.image.service import ImageService
from labs.image.stores.filesystem import FilesystemStore


def new_images(db: Database, options: ImageOptions, data_dir: Path) -> ImageService:
    store = FilesystemStore(Path(options.store_dir or data_dir / "images"))
    return ImageService(db, options, store)


def open_images(site: Site, db: Database) -> ImageService:
    return new_images(db, site.config.group(ImageOptions), site.data_dir)
