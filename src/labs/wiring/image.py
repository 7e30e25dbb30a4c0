"""Opening the image service for a site."""

from __future__ import annotations

from labs.common.db import Database
from labs.common.runner import Site
from labs.image.config import ImageOptions
from labs.image.service import ImageService


def open_images(site: Site, db: Database | None = None) -> ImageService:
    return ImageService(db or site.database(), site.config.group(ImageOptions), site.data_dir)
