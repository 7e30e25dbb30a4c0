"""The all-in-one cloud (``labs up``): every service wired together in one process."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from starlette.types import ASGIApp

from labs.accounts.api import build_api as accounts_api
from labs.common.runner import Site, compose
from labs.compute.api.routes import build_api as compute_api
from labs.directory.slapd import DirectoryAddress
from labs.dns.api import build_api as dns_api
from labs.identity.api import build_api as identity_api
from labs.identity.bootstrap import (
    ACCOUNTS,
    COMPUTE,
    DNS,
    IDENTITY,
    IMAGE,
    NETWORK,
    bootstrap,
    withdraw_from_catalog,
)
from labs.identity.resources import ProjectFilter
from labs.image.api import build_api as image_api
from labs.image.bootstrap import ensure_labs_image
from labs.image.config import ImageOptions
from labs.network.api import build_api as network_api
from labs.network.config import NetworkOptions
from labs.wiring.accounts import open_accounts
from labs.wiring.agent import serve_agents
from labs.wiring.bus import open_bus
from labs.wiring.compute import open_compute, serve_conductor, serve_scheduler
from labs.wiring.directory import start_directory
from labs.wiring.dns import dns_server_of, serve_dns
from labs.wiring.identity import directory_reconcile, open_identity
from labs.wiring.image import LocalImages, open_images
from labs.wiring.network import open_network


@dataclass
class AllInOne:
    app: ASGIApp
    public_url: str
    clouds_yaml: Path
    #: the accounts' directory (None: the accounts are kept in SQL)
    directory: DirectoryAddress | None = None
    stoppers: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the background parts (agent, conductor, bus), newest first."""
        while self.stoppers:
            with contextlib.suppress(Exception):
                self.stoppers.pop()()


def build_all_in_one(site: Site, public_url: str) -> AllInOne:
    """Start the accounts' directory (the private slapd), migrate, bootstrap on first
    start, mount every API under its prefix, and start compute's conductor, scheduler
    and one agent on the bus."""
    directory = start_directory(site)
    try:
        cloud = _build(site, public_url)
    except BaseException:
        directory.stop()
        raise
    cloud.directory = directory.address
    cloud.stoppers.insert(0, directory.stop)  # stopped last
    return cloud


def _build(site: Site, public_url: str) -> AllInOne:
    identity = open_identity(site)
    identity.prepare()
    in_catalog = site.config.group(NetworkOptions).api_in_catalog
    clouds = bootstrap(identity, public_url, site.data_dir,
                       (IDENTITY, IMAGE, COMPUTE, DNS, ACCOUNTS,
                        *((NETWORK,) if in_catalog else ())))
    if not in_catalog:
        withdraw_from_catalog(identity, NETWORK)
    db = identity.store.db
    images = open_images(site, db)
    images.prepare()
    images.sweep_uploads()  # what a crash left in saving
    admin_project = identity.resources.list_projects(ProjectFilter(name="admin"))[0]
    if site.config.group(ImageOptions).bootstrap_image:
        ensure_labs_image(images, admin_project.id)
    bus = open_bus(site, "compute.all-in-one")
    compute = open_compute(site, db, bus,
                           LocalImages(images, public_url.rstrip("/") + IMAGE.path))
    compute.prepare()
    serve_scheduler(site, db, bus)
    housekeeper = serve_conductor(site, db, bus, identity)
    dns = serve_dns(site, db, bus, admin_project.id)
    agents = serve_agents(site, bus, image_files=images.local_file,
                          dns_server=dns_server_of(dns.backend))
    cloud = AllInOne(compose({"/identity": identity_api(identity).app(),
                              "/image": image_api(images, identity.tokens).app(),
                              "/compute": compute_api(compute, identity.tokens).app(),
                              "/network": network_api(open_network(site, db, admin_project.id,
                                                                   bus),
                                                      identity.tokens,
                                                      compute.network_proxy,
                                                      compute.network_proxy,
                                                      compute.network_proxy).app(),
                              "/dns": dns_api(dns.service, identity.tokens).app(),
                              "/accounts": accounts_api(open_accounts(site, identity),
                                                        identity.tokens).app()}),
                     public_url, clouds)
    cloud.stoppers.append(dns.stop)
    dns.start()
    bus.start()
    cloud.stoppers.append(bus.stop)
    for agent in agents:
        agent.start()
        cloud.stoppers.append(agent.stop)
    housekeeper.start()
    cloud.stoppers.append(housekeeper.stop)
    reconcile = directory_reconcile(identity)  # the project groups in the directory
    if reconcile is not None:
        cloud.stoppers.append(reconcile.stop)
    return cloud
