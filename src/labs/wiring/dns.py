"""The DNS service's process (``labs serve dns``, and the DNS of ``labs up``): its
backend, its tables, the periodic push of zones whose publishing failed, and the sink
naming the cloud's VMs (`serve_dns`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from labs.common.bus import Bus
from labs.common.config import ConfigError
from labs.common.db import Database
from labs.common.periodic import Periodic
from labs.common.runner import Site, split_bind
from labs.compute.rpcapi import ConductorAPI
from labs.dns.backends.base import DnsBackend
from labs.dns.backends.embedded import EmbeddedBackend
from labs.dns.backends.powerdns import PowerDnsBackend
from labs.dns.config import DnsOptions
from labs.dns.instances import ConductorFloatingIps, ConductorInstances
from labs.dns.server_limits import ServerLimits
from labs.dns.service import DnsService
from labs.dns.sink import DnsSink, InstanceSource, Naming
from labs.dns.statuses import Heartbeat, Report
from labs.network.config import NetworkOptions

log = logging.getLogger("labs.dns")


def open_embedded_backend(site: Site) -> EmbeddedBackend:
    """Labs' own DNS server, answering on ``[dns] listen``."""
    options = site.config.group(DnsOptions)
    host, port = split_bind(options.listen)
    try:
        limits = ServerLimits.of(options.max_udp_size, options.allow_transfer,
                                 options.rate_limit, options.rate_limit_exempt)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return EmbeddedBackend(host, port, limits)


def open_backend(site: Site) -> DnsBackend:
    """What ``[dns] backend`` names, saying in the log where the zones are served."""
    options = site.config.group(DnsOptions)
    if options.backend == "embedded":
        backend = open_embedded_backend(site)
        log.info("DNS: the embedded server answers on %s port %d (UDP and TCP)",
                 backend.address, backend.port)
        return backend
    if options.backend == "powerdns":
        if not options.powerdns_api_url or not options.powerdns_api_key:
            raise ConfigError("[dns] backend = powerdns needs powerdns_api_url and "
                              "powerdns_api_key")
        log.info("DNS: zones are served by PowerDNS, kept in step through %s",
                 options.powerdns_api_url)
        return PowerDnsBackend(options.powerdns_api_url, options.powerdns_api_key,
                               options.powerdns_server_id)
    raise ConfigError(f"[dns] backend = {options.backend!r}: use embedded or powerdns")


def dns_server_of(backend: DnsBackend) -> str:
    """Where `backend` answers queries (HOST:PORT), when this process knows it: the
    embedded server's address; PowerDNS's is configured (``[network] dns_server``)."""
    if isinstance(backend, EmbeddedBackend):
        return f"{backend.address}:{backend.port}"
    return ""


def new_dns(db: Database, options: DnsOptions, backend: DnsBackend, cloud_project_id: str,
            network: NetworkOptions) -> DnsService:
    """The DNS service; the cloud's VMs are named under ``[network] dns_domain``."""
    return DnsService(db, options, backend, cloud_project_id, network.dns_domain)


def open_dns(site: Site, db: Database, backend: DnsBackend,
             cloud_project_id: str) -> DnsService:
    return new_dns(db, site.config.group(DnsOptions), backend, cloud_project_id,
                   site.config.group(NetworkOptions))


def instance_source(bus: Bus) -> InstanceSource:
    """Where the sink's reconciler learns the live instances: compute's conductor,
    asked over the bus (the DNS service reads no other service's tables)."""
    return ConductorInstances(ConductorAPI(bus))


def new_sink(dns: DnsService, instances: InstanceSource, network: NetworkOptions,
             options: DnsOptions) -> DnsSink:
    """The sink naming the VMs of ``[network] fixed_range`` under ``dns_domain``, and their
    floating IPs of ``floating_range`` in its reverse zone."""
    naming = Naming.for_ranges(network.dns_domain, [network.fixed_range],
                               floating=[network.floating_range])
    return DnsSink(dns, instances, naming, reconcile_seconds=options.reconcile_seconds)


class Resync:
    """Pushes every zone once at start (a backend may have lost them), then the pending
    ones every ``sync_seconds``."""

    def __init__(self, dns: DnsService) -> None:
        self.dns = dns
        self._pending_only = False
        #: how many zones the last round failed to push
        self.last_failed = 0
        self._rounds = Periodic("dns-sync", dns.options.sync_seconds, self._round,
                                what="dns sync", run_at_start=True)

    def start(self) -> None:
        self._rounds.start()

    def stop(self) -> None:
        self._rounds.stop(timeout=10)

    def _round(self) -> None:
        self.last_failed = self.dns.sync(self._pending_only)
        self._pending_only = True

    def running(self) -> bool:
        return self._rounds.running()


def heartbeat(dns: DnsService, backend: DnsBackend, sink: DnsSink, resync: Resync
              ) -> Heartbeat:
    """The reports of the parts of this process's DNS service (see `labs.dns.statuses`)."""

    def api() -> Report:
        return "UP", {}, {}

    def server() -> Report:
        return "UP", dict(backend.probe()), {"backend": backend.name}

    def sink_part() -> Report:
        if not sink.running():
            return "DOWN", {}, {}
        if sink.last_round is None:  # not reconciled yet: starting
            return "WARNING", {"reconciled_at": None}, {}
        at, error = sink.last_round
        stats = {"reconciled_at": datetime.fromtimestamp(at, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S"), **({"error": error} if error else {})}
        return ("WARNING" if error else "UP"), stats, {}

    def publisher() -> Report:
        if not resync.running():
            return "DOWN", {}, {}
        stats = {"pending_zones": dns.publisher.pending(), "failed_last_sync":
                 resync.last_failed}
        return ("WARNING" if resync.last_failed else "UP"), stats, {}

    return Heartbeat(dns.statuses, {"api": api, "server": server, "sink": sink_part,
                                    "publisher": publisher})


@dataclass
class RunningDns:
    """The DNS service of a process with its backend, resync and sink; `start` once the
    bus runs, `stop` at the end."""

    service: DnsService
    backend: DnsBackend
    sink: DnsSink
    resync: Resync
    _stoppers: list[Callable[[], None]] = field(default_factory=list)

    def start(self) -> None:
        self.resync.start()
        self._stoppers.append(self.resync.stop)
        self.sink.start()
        self._stoppers.append(self.sink.stop)
        beats = Periodic("dns-heartbeat", self.service.options.heartbeat_seconds,
                         heartbeat(self.service, self.backend, self.sink, self.resync).beat,
                         what="DNS heartbeat", run_at_start=True)
        beats.start()
        self._stoppers.append(lambda: beats.stop(timeout=10))

    def stop(self) -> None:
        """Stop the sink, the resync and the backend (its server), newest first."""
        while self._stoppers:
            with contextlib.suppress(Exception):
                self._stoppers.pop()()


def serve_dns(site: Site, db: Database, bus: Bus, cloud_project_id: str) -> RunningDns:
    """Open the backend (the embedded server starts answering), migrate and bootstrap
    the DNS tables, and subscribe the sink to compute's notifications on `bus`."""
    backend = open_backend(site)
    try:
        dns = open_dns(site, db, backend, cloud_project_id)
        dns.prepare()
        dns.floating.source = ConductorFloatingIps(ConductorAPI(bus))
        sink = new_sink(dns, instance_source(bus), site.config.group(NetworkOptions),
                        site.config.group(DnsOptions))
        sink.subscribe(bus)
    except BaseException:
        backend.close()
        raise
    return RunningDns(dns, backend, sink, Resync(dns), [backend.close])
