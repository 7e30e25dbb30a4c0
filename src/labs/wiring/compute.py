"""Compute's processes: the API, the conductor, the scheduler and the agents, wired
from a site's configuration. ``labs up`` runs them all in one process; ``labs serve
compute-api|conductor|scheduler`` and ``labs agent`` run them apart."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labs.common.bus import Bus, connect
from labs.common.bus.options import BusOptions
from labs.common.config import ConfigError
from labs.common.context import RequestContext
from labs.common.db import Database
from labs.common.runner import Site
from labs.compute.agent.manager import Agent
from labs.compute.api.images import ImageInfo, ImageLookup
from labs.compute.api.service import ComputeService
from labs.compute.conductor.manager import Conductor
from labs.compute.config import AgentOptions, ComputeOptions
from labs.compute.rpcapi import AGENT, CONDUCTOR, SCHEDULER, AgentAPI, SchedulerAPI
from labs.compute.scheduler.config import SchedulerOptions
from labs.compute.scheduler.engine import Scheduler
from labs.compute.scheduler.manager import SchedulerManager
from labs.compute.virt.base import VirtDriver
from labs.compute.virt.fake import FakeDriver
from labs.compute.virt.qemu import QemuDriver
from labs.network.config import NetworkOptions
from labs.network.service import NetworkService
from labs.wiring.host_network import make_host_networking

log = logging.getLogger("labs.compute")


def open_bus(site: Site, publisher: str) -> Bus:
    options = site.config.group(BusOptions)
    return connect(options.url or "memory://", namespace=options.namespace,
                   publisher_id=publisher)


def open_compute(site: Site, db: Database, bus: Bus, images: ImageLookup) -> ComputeService:
    return ComputeService(db, site.config.group(ComputeOptions), bus, images,
                          site.config.group(NetworkOptions))


class Housekeeper:
    """The conductor's periodic work: its heartbeat, and driving stuck builds again."""

    def __init__(self, conductor: Conductor, host: str, interval: float) -> None:
        self.conductor = conductor
        self.host = host
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="conductor-housekeeping",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.conductor.heartbeat(self.host, "nova-conductor")
                self.conductor.heartbeat(self.host, "nova-scheduler")
                self.conductor.redrive_stuck_builds()
            except Exception:
                log.exception("conductor housekeeping failed; trying again in %.0f s",
                              self.interval)


def serve_conductor(site: Site, db: Database, bus: Bus) -> Housekeeper:
    options = site.config.group(ComputeOptions)
    conductor = Conductor(db, options, SchedulerAPI(bus), AgentAPI(bus),
                          NetworkService(db, site.config.group(NetworkOptions)))
    bus.serve(CONDUCTOR, conductor)
    host = socket.gethostname()
    conductor.heartbeat(host, "nova-conductor")
    return Housekeeper(conductor, host, options.heartbeat_seconds)


def serve_scheduler(site: Site, db: Database, bus: Bus) -> SchedulerManager:
    manager = SchedulerManager(db, Scheduler.from_options(site.config.group(SchedulerOptions)),
                               site.config.group(ComputeOptions))
    bus.serve(SCHEDULER, manager)
    return manager


def make_driver(site: Site, options: AgentOptions, host: str) -> VirtDriver:
    state_dir = Path(options.state_dir or site.data_dir / "agent")
    if options.driver == "fake":
        return FakeDriver(state_dir, host, vcpus=options.fake_vcpus,
                          memory_mb=options.fake_memory_mb, disk_gb=options.fake_disk_gb,
                          spawn_seconds=options.fake_spawn_seconds,
                          vcpu_overcommit=site.config.group(ComputeOptions).cpu_allocation_ratio)
    if options.driver == "qemu":
        if options.qemu_console_log_bytes < 4096:
            raise ConfigError(f"[agent] qemu_console_log_bytes = "
                              f"{options.qemu_console_log_bytes}: at least 4096")
        if options.qemu_accel not in ("auto", "kvm", "tcg"):
            raise ConfigError(f"[agent] qemu_accel = {options.qemu_accel!r}: use auto, kvm "
                              "or tcg")
        return QemuDriver(state_dir, host, binary=options.qemu_binary,
                          accel=options.qemu_accel,
                          vcpu_overcommit=site.config.group(ComputeOptions).cpu_allocation_ratio,
                          soft_reboot_seconds=options.qemu_soft_reboot_seconds,
                          console_max_bytes=options.qemu_console_log_bytes)
    raise ConfigError(f"[agent] driver = {options.driver!r}: unknown virt driver, use qemu "
                      "or fake")


def serve_agents(site: Site, bus: Bus, host: str | None = None,
                 image_files: Callable[[str], str | None] | None = None,
                 dns_server: str = "") -> list[Agent]:
    """The agent for ``host`` on ``bus`` (call ``start`` once the bus runs); with the
    fake driver and ``fake_hosts`` > 1, one agent per simulated host. `dns_server`:
    where the all-in-one's DNS server answers, for the networks' DNS relay."""
    options = site.config.group(AgentOptions)
    compute = site.config.group(ComputeOptions)
    name = host or options.host or socket.gethostname()
    names = [name]
    if options.driver == "fake" and options.fake_hosts > 1:
        names = [f"{name}-{i}" for i in range(1, options.fake_hosts + 1)]
    agents = []
    for each in names:
        network = make_host_networking(site, options, bus, dns_server)
        agent = Agent(each, options.availability_zone or compute.default_availability_zone,
                      make_driver(site, options, each), bus, compute.heartbeat_seconds,
                      options.workers, network, image_files)
        bus.serve(AGENT, agent, server=each)
        agents.append(agent)
    return agents


def prepare_api_database(site: Site, db: Database) -> None:
    """Migrate compute's tables (and the image tables the API reads) once, before
    the worker processes start."""
    from labs.wiring.image import open_images

    open_images(site, db).prepare()
    ComputeService(db, site.config.group(ComputeOptions), connect("memory://"),
                   _NoImages(), site.config.group(NetworkOptions)).prepare()


class _NoImages(ImageLookup):
    def find(self, ctx: RequestContext, image_id: str) -> ImageInfo | None:
        return None


def image_endpoint(identity: Any) -> str | None:
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
    from labs.compute.api.images import LocalImages
    from labs.compute.api.routes import build_api
    from labs.wiring.identity import open_identity
    from labs.wiring.image import open_images

    site = Site.open()
    identity = open_identity(site)
    db = identity.store.db
    bus = open_bus(site, f"compute.api.{socket.gethostname()}")
    bus.start()
    compute = open_compute(site, db, bus, LocalImages(open_images(site, db),
                                                      image_endpoint(identity)))
    return compose({"/compute": build_api(compute, identity.tokens).app()})
