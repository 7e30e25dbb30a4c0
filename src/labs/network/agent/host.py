"""An agent's side of an instance's network: plug the port the conductor allocated
(the ``network`` part of the build spec) before the VM starts, keep its security rules
and floating IPs as the cloud says, unplug it when the VM is gone.

With a network driver (``bridge``) the VM gets a tap on its project's bridge; without
one (``user``) it gets qemu's user-mode network with the same MAC, reachable only
through ports forwarded from the host's loopback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from labs.compute.virt.base import Nic
from labs.network.agent.drivers.base import NetworkDriver
from labs.network.specs import NetworkError, NetworkSpec, PortSpec, SecurityRule

log = logging.getLogger("labs.compute.agent.manager")

#: Called when a network is ready on this host: (network id, its namespace, its gateway).
NetworkReady = Callable[[str, str, str], None]


class HostNetworking:
    def __init__(self, driver: NetworkDriver | None,
                 on_network_ready: NetworkReady | None = None,
                 namespace_of: Callable[[str], str] | None = None,
                 on_close: Callable[[], None] | None = None) -> None:
        self.driver = driver
        self.on_close = on_close
        self.on_network_ready = on_network_ready
        self.namespace_of = namespace_of
        self._ready: set[str] = set()

    def start(self) -> None:
        """After a restart: serve the networks an earlier agent process made."""
        if self.driver is None:
            return
        for spec in self.driver.list_networks():
            self._network_ready(spec)

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

    def plug(self, network: dict[str, Any] | None) -> tuple[Nic, ...]:
        """Plug the instance's port; the NICs its VM gets (none without a network).
        Raises NetworkError when the host cannot plug it (the build fails here, and
        whatever the plug made is gone)."""
        if network is None:
            return ()
        if self.driver is None:
            return (Nic(mac=network["mac"], kind="user"),)
        spec = NetworkSpec(id=network["network_id"], project_id=_project(network),
                           cidr=network["cidr"], gateway=network["gateway"],
                           dns_domain=network["dns_domain"], mtu=int(network.get("mtu", 1500)),
                           external_ip=network.get("external_ip"))
        self.driver.ensure_network(spec)
        self._network_ready(spec)
        port = PortSpec(id=network["port_id"], network_id=spec.id, mac=network["mac"],
                        ip=network["address"], hostname=network["hostname"],
                        instance_id=network["port_id"])
        attachment = self.driver.plug(port)
        try:
            self.apply(network, None)
        except NetworkError:
            self.driver.unplug(port.id)
            raise
        return (Nic(mac=attachment.mac, kind="tap", tap=attachment.device,
                    netns=attachment.netns),)

    def apply(self, network: dict[str, Any], before: dict[str, Any] | None) -> None:
        """Make the port's rules and floating IPs what `network` says (`before`: what
        was applied last, to know which floating IPs to take away)."""
        if self.driver is None:
            return
        port_id = network["port_id"]
        security = network.get("security") or {}
        rules = [SecurityRule(**rule) for rule in security.get("rules", [])]
        self.driver.set_security_rules(port_id, rules, security.get("members", {}))
        wanted = set(network.get("floating_ips") or [])
        had = set((before or {}).get("floating_ips") or [])
        for address in sorted(had - wanted):
            self.driver.remove_floating_ip(port_id, address)
        for address in sorted(wanted):
            self.driver.add_floating_ip(port_id, address)

    def unplug(self, instance_id: str) -> None:
        if self.driver is not None:
            self.driver.unplug(instance_id)

    def plugged(self) -> set[str]:
        """The ports this host has (by instance id)."""
        if self.driver is None:
            return set()
        return {attachment.port_id for attachment in self.driver.list_ports()}

    def close(self) -> None:
        if self.on_close is not None:
            self.on_close()
        if self.driver is not None:
            self.driver.close()


def _project(network: dict[str, Any]) -> str:
    return str(network.get("project_id") or network["network_id"])
