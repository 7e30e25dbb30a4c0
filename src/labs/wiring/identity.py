"""The identity service's process (``labs serve identity``), and identity for the others:
the service over the site's database, with the SQL backend for users and groups."""

from __future__ import annotations

from pathlib import Path

from starlette.types import ASGIApp

from labs.common.db import Database
from labs.common.runner import Site, compose
from labs.identity.api import build_api
from labs.identity.backends.sql import SqlIdentityBackend
from labs.identity.config import IdentityOptions
from labs.identity.service import IdentityService
from labs.identity.sudo.sql import SqlSudoRuleStore


def new_identity(db: Database, options: IdentityOptions, data_dir: Path) -> IdentityService:
    """Identity over `db`; its Fernet keys under `data_dir` unless configured. Each new
    project gets its default sudo rules."""
    return IdentityService(db, options, data_dir,
                           SqlIdentityBackend(options.password_hash_rounds),
                           sudo_rules=SqlSudoRuleStore())


def open_identity(site: Site) -> IdentityService:
    return new_identity(site.database(), site.config.group(IdentityOptions), site.data_dir)


def create_app() -> ASGIApp:
    """uvicorn's factory in each worker: the site comes from the environment."""
    site = Site.open()
    return compose({"/identity": build_api(open_identity(site)).app()})
