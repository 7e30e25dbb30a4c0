"""The user routers of a host's bridge networks, as the instances' specs say (their
``router`` part, a `RouterPart`): a router joins those of its networks that have ports
on this host (`Routing`: one namespace per router, a transit pair per network, its
gateway, SNAT and floating IPs), and goes with the last of those ports (its external
IP with it).

A router's floating IPs are those of its ports plugged on this host: a floating IP
comes in where its VM runs. A network that leaves its router loses its transit pair
(its own uplink, if it has one, comes back with its network spec).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from labs.network.agent import netns
from labs.network.agent.drivers.bridge.driver import BridgeDriver
from labs.network.agent.drivers.bridge.routing import NETWORK_SIDE, Joined, RouterSpec, Routing
from labs.network.instance_spec import InstancePort, RouterPart

log = logging.getLogger("labs.network.agent.drivers.bridge.routing")


class HostRouters:
    """Follows the routers of `driver`'s networks (`routing`: by default one over the
    driver's prefix and public side)."""

    def __init__(self, driver: BridgeDriver, routing: Routing | None = None) -> None:
        self.driver = driver
        self.routing = routing or Routing(driver.prefix, driver.external_namespace,
                                          driver.external_net, driver.external_gateway)
        self._lock = threading.Lock()
        #: The router each network was last joined to, and each router as last seen.
        self._of: dict[str, str] = {}
        self._routers: dict[str, RouterPart] = {}

    def follow(self, port: InstancePort, before: InstancePort | None) -> None:
        """Make the port's network's router what `port` says: joined to its router (made
        or brought up to date), or to none (left)."""
        with self._lock:
            network_id, router = port.network_id, port.router
            last = self._of.get(network_id)
            if before is not None and before.router is not None and last is None:
                last = before.router.id
            if router is None or (last is not None and last != router.id):
                self._leave(network_id, last)
            if router is not None:
                self._ensure(router)

    def port_gone(self, network_id: str) -> None:
        """A port of `network_id` was unplugged: its router keeps only the floating IPs
        of the ports still here, and goes with the last of them."""
        with self._lock:
            known = self._routers.get(self._of.get(network_id, ""))
            if known is not None:
                self._ensure(known)
            elif not self.driver.state.ports(network_id):
                self._leave(network_id, None)

    def _ensure(self, router: RouterPart) -> None:
        """Join the router's networks that have ports on this host (none: delete it)."""
        here = {spec.id for spec in self.driver.list_networks()}
        members = [(nid, cidr) for nid, cidr in router.networks
                   if nid in here and self.driver.state.ports(nid)]
        for nid in [n for n, r in self._of.items() if r == router.id]:
            del self._of[nid]
        if not members:
            self.routing.delete(router.id)
            self._routers.pop(router.id, None)
            log.info("router %s has no port on this host: deleted", router.id)
            return
        local = {record.port.ip for nid, _ in members
                 for record in self.driver.state.ports(nid)}
        self.routing.ensure(RouterSpec(
            router.id, tuple(Joined(self.driver.namespace(nid), cidr) for nid, cidr in members),
            router.external_ip,
            tuple((fip, fixed) for fip, fixed in router.floating if fixed in local)))
        self._routers[router.id] = router
        for nid, _ in members:
            self._of[nid] = router.id

    def _leave(self, network_id: str, router_id: str | None) -> None:
        namespace = self.driver.namespace(network_id)
        joined = netns.exists(namespace) and netns.link_exists(namespace, NETWORK_SIDE)
        if joined:
            netns.delete_link(namespace, NETWORK_SIDE)  # its transit pair, both ends
            log.info("network %s left router %s", network_id, router_id or "(unknown)")
        self._of.pop(network_id, None)
        known = self._routers.get(router_id or "")
        if known is not None:
            self._ensure(replace(known, networks=tuple(
                (nid, cidr) for nid, cidr in known.networks if nid != network_id)))
        elif joined:  # a router this process never saw (the agent restarted): gone if empty
            for router in self.routing.unjoined():
                self.routing.delete(router)
