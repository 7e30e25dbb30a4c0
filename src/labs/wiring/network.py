"""The network API's process (``labs serve network``, and the network API of ``labs
up``): the network service over the database compute's tables live in, its external
network owned by the cloud's admin project."""

from __future__ import annotations

from starlette.types import ASGIApp

from labs.common.db import Database
from labs.common.runner import Site, compose
from labs.identity.resources import ProjectFilter
from labs.identity.service import IdentityService
from labs.network.api import build_api
from labs.network.config import NetworkOptions
from labs.network.service import NetworkService
from labs.wiring.identity import open_identity


def new_network(db: Database, options: NetworkOptions, cloud_project_id: str) -> NetworkService:
    return NetworkService(db, options, cloud_project_id)


def open_network(site: Site, db: Database, cloud_project_id: str) -> NetworkService:
    return new_network(db, site.config.group(NetworkOptions), cloud_project_id)


def admin_project_id(identity: IdentityService) -> str | None:
    """The cloud's admin project (None before identity's first start)."""
    found = identity.resources.list_projects(ProjectFilter(name="admin"))
    return found[0].id if found else None


def create_app() -> ASGIApp:
    """uvicorn's factory in each worker: the site comes from the environment."""
    site = Site.open()
    identity = open_identity(site)
    network = open_network(site, identity.store.db, admin_project_id(identity) or "")
    return compose({"/network": build_api(network, identity.tokens).app()})
