"""The all-in-one cloud (`labs up`): every service wired together in one process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp

from labs.common.runner import Site, compose
from labs.identity.api import build_api as identity_api
from labs.identity.app import open_identity
from labs.identity.bootstrap import IDENTITY, IMAGE, bootstrap
from labs.identity.resources import ProjectFilter
from labs.image.api import build_api as image_api
from labs.image.app import open_images
from labs.image.bootstrap import ensure_labs_image
from labs.image.config import ImageOptions


@dataclass(frozen=True)
class AllInOne:
    app: ASGIApp
    public_url: str
    clouds_yaml: Path


def build_all_in_one(site: Site, public_url: str) -> AllInOne:
    """Migrate, bootstrap on first start, and mount every API under its prefix."""
    identity = open_identity(site)
    identity.prepare()
    clouds = bootstrap(identity, public_url, site.data_dir, (IDENTITY, IMAGE))
    images = open_images(site, identity.store.db)
    images.prepare()
    if site.config.group(ImageOptions).bootstrap_image:
        admin_project = identity.resources.list_projects(ProjectFilter(name="admin"))[0]
        ensure_labs_image(images, admin_project.id)
    app = compose({"/identity": identity_api(identity).app(),
                   "/image": image_api(images, identity.tokens).app()})
    return AllInOne(app, public_url, clouds)
