"""An agent's side of an instance's network: plug the ports the conductor allocated
(the ``network`` part of the build spec: one per NIC) before the VM starts, keep their
security rules and floating IPs as the cloud says, unplug them when the VM is gone.

With a network driver (``bridge``) the VM gets a tap on its project's bridge; without
one (``user``) it gets qemu's user-mode network with the same MAC, reachable only
through ports forwarded from the host's loopback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from labs.common.periodic import Periodic
from labs.network.agent.drivers.base import NetworkDriver
from labs.network.instance_spec import InstancePort
from labs.network.specs import NetworkError, NetworkSpec

log = logging.getLogger("labs.compute.agent.manager")

#: Called when a network is ready on this host: (network id, its namespace, its gateway).
NetworkReady = Callable[[str, str, str], None]
#: How often the networks' logs are cut at their cap besides when a network is ensured:
#: a host whose networks stay as they are for days must not fill its disk.
LOG_CUT_SECONDS = 600.0


class PortRouters(Protocol):
    """The host's user routers (see drivers/bridge/host_routers.py)."""

    def follow(self, port: InstancePort, before: InstancePort | None) -> None:
        """Join the port's network to its router (``port.router``), or to none."""

    def port_gone(self, network_id: str) -> None:
        """A port of the network was unplugged (its floating IPs leave its router)."""


@dataclass(frozen=True)
class PluggedPort:
    """How a VM reaches its plugged port: the tap `device` (inside namespace `netns`) the
    network driver made, or, with no driver (`device` None), qemu's user-mode network
    with the port's MAC."""

    mac: str
    device: str | None = None
    netns: str | None = None
    #: The id the host knows the port by (`InstancePort.port_id`).
    port_id: str | None = None


class HostNetworking:
    def __init__(self, driver: NetworkDriver | None,
                 on_network_ready: NetworkReady | None = None,
                 namespace_of: Callable[[str], str] | None = None,
                 on_close: Callable[[], None] | None = None,
                 log_cut_seconds: float = LOG_CUT_SECONDS,
                 routers: PortRouters | None = None) -> None:
        self.driver = driver
        self.routers = routers
        self.on_close = on_close
        self.on_network_ready = on_network_ready
        self.namespace_of = namespace_of
        self._ready: set[str] = set()
        self._log_cut = Periodic("network-logs", log_cut_seconds, self.bound_logs,
                                 what="cutting the networks' logs")

    def start(self) -> None:
        """After a restart: serve the networks an earlier agent process made; then cut
        their logs at their cap every `log_cut_seconds`."""
        if self.driver is None:
            return
        for spec in self.driver.list_networks():
            self._network_ready(spec)
        self._log_cut.start()

    def bound_logs(self) -> None:
        """The periodic round: the driver cuts its networks' logs at their cap."""
        if self.driver is not None:
            self.driver.bound_logs()

    def _network_ready(self, spec: NetworkSpec) -> None:
        if spec.id in self._ready or self.on_network_ready is None \
                or self.namespace_of is None:
            return
        try:
            self.on_network_ready(spec.id, self.namespace_of(spec.id), spec.gateway)
        except NetworkError as exc:
            log.warning("network %s: its metadata service or DNS relay is not served: %s",
                        spec.id, exc)
            return
        self._ready.add(spec.id)

    @property
    def kind(self) -> str:
        return self.driver.name if self.driver is not None else "user"

    def plug(self, port: InstancePort | None) -> PluggedPort | None:
        """Plug the instance's port; how its VM reaches it (None without a network).
        Raises NetworkError when the host cannot plug it (the build fails here, and
        whatever the plug made is gone)."""
        if port is None:
            return None
        if self.driver is None:
            return PluggedPort(mac=port.mac, port_id=port.port_id)
        spec = port.network_spec()
        self.driver.ensure_network(spec)
        self._network_ready(spec)
        attachment = self.driver.plug(port.port_spec())
        try:
            self._apply(port, None)
        except NetworkError:
            self.driver.unplug(port.port_id)
            raise
        return PluggedPort(mac=attachment.mac, device=attachment.device,
                           netns=attachment.netns, port_id=port.port_id)

    def plug_all(self, ports: Sequence[InstancePort]) -> list[PluggedPort]:
        """Plug an instance's ports, in NIC order; how its VM reaches each. Raises
        NetworkError when one cannot be plugged, after unplugging those this call
        plugged."""
        plugged: list[PluggedPort] = []
        try:
            for port in ports:
                done = self.plug(port)
                assert done is not None
                plugged.append(done)
        except NetworkError:
            self.unplug_all([port.port_id for port in ports[:len(plugged)]])
            raise
        return plugged

    def apply(self, port: InstancePort, before: InstancePort | None) -> None:
        """Make the port's rules and floating IPs what `port` says (`before`: what was
        applied last, to know which floating IPs to take away). A network whose spec
        changed (it joined or left a router, say) is made sure of again first."""
        if self.driver is None:
            return
        spec = port.network_spec()
        if spec not in self.driver.list_networks():  # a router or the subnet changed
            self.driver.ensure_network(spec)
        self._apply(port, before)

    def _apply(self, port: InstancePort, before: InstancePort | None) -> None:
        assert self.driver is not None
        self.driver.set_security_rules(port.port_id, port.security.rules,
                                       port.security.members,
                                       port_security=port.security.enabled,
                                       allowed_pairs=port.security.allowed_pairs)
        # a routed network's floating IPs come in through its router, not its uplink
        wanted = set(port.floating_ips) if port.router is None else set()
        had = set(before.floating_ips if before is not None else ())
        if port.router is not None:
            had |= set(port.floating_ips)
        for address in sorted(had - wanted):
            self.driver.remove_floating_ip(port.port_id, address)
        for address in sorted(wanted):
            self.driver.add_floating_ip(port.port_id, address)
        if self.routers is not None:
            self.routers.follow(port, before)

    def unplug(self, port_id: str) -> None:
        """Unplug one port (by the id the host knows it by: its instance's for a first
        NIC, see `InstancePort.port_id`); a missing one is fine. The router its network
        is on forgets it."""
        if self.driver is None:
            return
        networks = [a.network_id for a in self.driver.list_ports() if a.port_id == port_id]
        self.driver.unplug(port_id)
        if self.routers is not None:
            for network_id in networks:
                self.routers.port_gone(network_id)

    def unplug_all(self, port_ids: Sequence[str]) -> None:
        for port_id in port_ids:
            self.unplug(port_id)

    def plugged(self) -> set[str]:
        """The ports this host has (by the ids `InstancePort.port_id` gives them)."""
        if self.driver is None:
            return set()
        return {attachment.port_id for attachment in self.driver.list_ports()}

    def close(self) -> None:
        self._log_cut.stop()
        if self.on_close is not None:
            self.on_close()
        if self.driver is not None:
            self.driver.close()

