"""Compute's control processes: the API, the conductor and the scheduler, wired from a
site's configuration (the agents: `labs.wiring.agent`). ``labs up`` runs them all in one
process; ``labs serve compute-api|conductor|scheduler`` runs them apart. The functions
taking options rather than a site are what the tests build with."""

from __future__ import annotations

import logging
import socket
from typing import Any

from labs.common.bus import Bus, connect
from labs.common.context import RequestContext
from labs.common.db import Database
from labs.common.periodic import Periodic
from labs.common.runner import Site
from labs.compute.api.images import ImageInfo, ImageLookup
from labs.compute.api.service import ComputeService
from labs.compute.conductor.manager import AccessProvider, Conductor
from labs.compute.config import ComputeOptions
from labs.compute.rpcapi import (
    CONDUCTOR,
    CONDUCTOR_BINARY,
    SCHEDULER,
    SCHEDULER_BINARY,
    AgentAPI,
    SchedulerAPI,
)
from labs.compute.scheduler.config import SchedulerOptions
from labs.compute.scheduler.engine import Scheduler
from labs.compute.scheduler.manager import SchedulerManager
from labs.identity.service import IdentityService
from labs.network.config import NetworkOptions
from labs.network.notices import Notices
from labs.network.service import NetworkService
from labs.wiring.bus import open_bus

log = logging.getLogger("labs.compute")


def new_compute(db: Database, bus: Bus, images: ImageLookup, options: ComputeOptions,
                network: NetworkOptions) -> ComputeService:
    """What the compute API does, with the network service whose tables it shares (its
    changes told on `bus`)."""
    return ComputeService(db, options, bus, images, network_on(bus, db, network))


def network_on(bus: Bus, db: Database, options: NetworkOptions,
               cloud_project_id: str = "") -> NetworkService:
    """The network service, telling its changes on `bus` (Neutron's notifications)."""
    network = NetworkService(db, options, cloud_project_id)
    network.tell(Notices(bus, network.topology.external()))
    return network


def open_compute(site: Site, db: Database, bus: Bus, images: ImageLookup) -> ComputeService:
    return new_compute(db, bus, images, site.config.group(ComputeOptions),
                       site.config.group(NetworkOptions))


def access_provider(identity: IdentityService) -> AccessProvider:
    """Identity's answer to who may log into a project's VMs, as the conductor gives it
    to the agents' metadata services."""

    def project_access(project_id: str) -> dict[str, Any] | None:
        record = identity.project_access(project_id)
        return None if record is None else record.to_dict()

    return project_access


def new_conductor(db: Database, bus: Bus, options: ComputeOptions,
                  network: NetworkOptions, identity: IdentityService | None = None
                  ) -> Conductor:
    """A conductor that asks the scheduler and the agents on `bus` (not yet serving);
    with `identity`, it answers the metadata services' access questions."""
    return Conductor(db, options, SchedulerAPI(bus), AgentAPI(bus),
                     NetworkService(db, network),
                     access_provider(identity) if identity is not None else None)


def conductor_on(bus: Bus, db: Database, options: ComputeOptions,
                 network: NetworkOptions, identity: IdentityService | None = None
                 ) -> Conductor:
    """A conductor serving the ``conductor`` topic on `bus`."""
    conductor = new_conductor(db, bus, options, network, identity)
    bus.serve(CONDUCTOR, conductor)
    return conductor


def scheduler_on(bus: Bus, db: Database, options: ComputeOptions,
                 scheduler: SchedulerOptions) -> SchedulerManager:
    """A scheduler serving the ``scheduler`` topic on `bus`."""
    manager = SchedulerManager(db, Scheduler.from_options(scheduler), options)
    bus.serve(SCHEDULER, manager)
    return manager


class Housekeeper(Periodic):
    """The conductor's periodic work: its heartbeat, and driving stuck builds again."""

    def __init__(self, conductor: Conductor, host: str, interval: float) -> None:
        super().__init__("conductor-housekeeping", interval, self._round,
                         what="conductor housekeeping")
        self.conductor = conductor
        self.host = host

    def _round(self) -> None:
        self.conductor.heartbeat(self.host, CONDUCTOR_BINARY)
        self.conductor.heartbeat(self.host, SCHEDULER_BINARY)
        self.conductor.redrive_stuck_builds()


def serve_conductor(site: Site, db: Database, bus: Bus,
                    identity: IdentityService | None = None) -> Housekeeper:
    """The conductor on `bus` (answering from `identity`, else from the site's identity
    over `db`), its first heartbeat sent; start the housekeeper returned once the bus
    runs."""
    from labs.identity.config import IdentityOptions
    from labs.wiring.identity import new_identity

    options = site.config.group(ComputeOptions)
    identity = identity or new_identity(db, site.config.group(IdentityOptions), site.data_dir)
    conductor = conductor_on(bus, db, options, site.config.group(NetworkOptions), identity)
    host = socket.gethostname()
    conductor.heartbeat(host, CONDUCTOR_BINARY)
    return Housekeeper(conductor, host, options.heartbeat_seconds)


def serve_scheduler(site: Site, db: Database, bus: Bus) -> SchedulerManager:
    return scheduler_on(bus, db, site.config.group(ComputeOptions),
                        site.config.group(SchedulerOptions))


def prepare_api_database(site: Site, db: Database) -> None:
    """Migrate compute's tables (and the image tables the API reads) once, before
    the worker processes start."""
    from labs.wiring.image import open_images

    open_images(site, db).prepare()
    open_compute(site, db, connect("memory://"), NoImages()).prepare()


class NoImages(ImageLookup):
    """For a process that starts no servers: it knows no image."""

    def find(self, ctx: RequestContext, image_id: str) -> ImageInfo | None:
        return None


def image_endpoint(identity: IdentityService) -> str | None:
    """The image API's public URL from the catalog (None when none is registered)."""
    for service in identity.catalog.list_services(type="image"):
        for endpoint in identity.catalog.list_endpoints(service_id=service.id):
            if endpoint.interface == "public":
                return str(endpoint.url)
    return None


def create_api_app() -> object:
    """uvicorn's factory in each compute-api worker: the site comes from the
    environment; tokens and images are read from the shared database and data dir."""
    from labs.common.runner import compose
    from labs.compute.api.routes import build_api
    from labs.wiring.identity import open_identity
    from labs.wiring.image import LocalImages, open_images

    site = Site.open()
    identity = open_identity(site)
    db = identity.store.db
    bus = open_bus(site, f"compute.api.{socket.gethostname()}")
    bus.start()
    compute = open_compute(site, db, bus, LocalImages(open_images(site, db),
                                                      image_endpoint(identity)))
    return compose({"/compute": build_api(compute, identity.tokens).app()})
