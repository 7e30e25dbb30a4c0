"""The identity service as a process of its own (`labs serve identity`)."""

from __future__ import annotations

from starlette.types import ASGIApp

from labs.common.runner import Site, compose
from labs.identity.api import build_api
from labs.identity.config import IdentityOptions
from labs.identity.service import IdentityService


def open_identity(site: Site) -> IdentityService:
    return IdentityService(site.database(), site.config.group(IdentityOptions), site.data_dir)


def create_app() -> ASGIApp:
    """uvicorn's factory in each worker: the site comes from the environment."""
    site = Site.open()
    return compose({"/identity": build_api(open_identity(site)).app()})
