"""The network API's process (``labs serve network``, and the network API of ``labs
up``): the network service over the database compute's tables live in, its external
network owned by the cloud's admin project; floating IPs and security groups change
through compute's side (on the shared bus, as the compute API's process does; without
one, they are read-only). Its changes are told on that bus (Neutron's notifications)."""

from __future__ import annotations

import socket

from starlette.types import ASGIApp

from labs.common.bus import Bus
from labs.common.bus.options import BusOptions
from labs.common.db import Database
from labs.common.runner import Site, compose
from labs.compute.api.network_proxy import NetworkProxy
from labs.identity.resources import ProjectFilter
from labs.identity.service import IdentityService
from labs.network.api import build_api
from labs.network.config import NetworkOptions
from labs.network.service import NetworkService
from labs.wiring.bus import open_bus
from labs.wiring.compute import NoImages, network_on, open_compute
from labs.wiring.identity import open_identity


def new_network(db: Database, options: NetworkOptions, cloud_project_id: str,
                bus: Bus | None = None) -> NetworkService:
    """The network service; with a `bus`, telling its changes there."""
    if bus is not None:
        return network_on(bus, db, options, cloud_project_id)
    return NetworkService(db, options, cloud_project_id)


def open_network(site: Site, db: Database, cloud_project_id: str,
                 bus: Bus | None = None) -> NetworkService:
    return new_network(db, site.config.group(NetworkOptions), cloud_project_id, bus)


def admin_project_id(identity: IdentityService) -> str | None:
    """The cloud's admin project (None before identity's first start)."""
    found = identity.resources.list_projects(ProjectFilter(name="admin"))
    return found[0].id if found else None


def create_app() -> ASGIApp:
    """uvicorn's factory in each worker: the site comes from the environment."""
    site = Site.open()
    identity = open_identity(site)
    db = identity.store.db
    bus = shared_bus(site)
    network = open_network(site, db, admin_project_id(identity) or "", bus)
    proxy = compute_side(site, db, bus)
    return compose({"/network": build_api(network, identity.tokens, proxy, proxy, proxy).app()})


def shared_bus(site: Site) -> Bus | None:
    """The cloud's bus, started; none when it is in-process (another process's)."""
    url = site.config.group(BusOptions).url
    if not url or url.startswith(("memory", "inprocess")):
        return None
    bus = open_bus(site, f"network.api.{socket.gethostname()}")
    bus.start()
    return bus


def compute_side(site: Site, db: Database, bus: Bus | None) -> NetworkProxy | None:
    """Compute's side of floating IPs and security groups (its `Associations` and
    `GroupUse`), over the shared bus (the hosts must hear of changes); none without
    one: floating IPs and security groups are then read-only here."""
    if bus is None:
        return None
    return open_compute(site, db, bus, NoImages()).network_proxy
