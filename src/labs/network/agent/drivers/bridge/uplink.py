"""A network's way out: the cloud's public side (bridge ``br-ext`` in a namespace of its
own, holding the external gateway address) and a network's uplink to it (a veth pair:
``up<N>`` in the network's namespace with its external IP, floating IPs and default route,
``ex<N>`` on ``br-ext``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from labs.network.agent import netns

log = logging.getLogger("labs.network.agent.drivers.bridge.driver")

EXTERNAL_BRIDGE = "br-ext"


@dataclass(frozen=True)
class Uplink:
    """The two ends of a network's uplink: `device` in `namespace`, `outside` in
    `external_namespace` (on ``br-ext``)."""

    namespace: str
    device: str
    external_namespace: str
    outside: str


def ensure_public_side(namespace: str, gateway_cidr: str) -> None:
    """Bridge ``br-ext`` in `namespace`, up, holding the external gateway address."""
    netns.ensure(namespace, router=False)
    if not netns.link_exists(namespace, EXTERNAL_BRIDGE):
        netns.ip(namespace, "link", "add", EXTERNAL_BRIDGE, "type", "bridge")
        log.info("created the public side: %s in %s", EXTERNAL_BRIDGE, namespace)
    netns.ip(namespace, "link", "set", EXTERNAL_BRIDGE, "up")
    netns.set_address(namespace, EXTERNAL_BRIDGE, gateway_cidr)


def ensure_uplink(link: Uplink, addresses: set[str], gateway: str) -> None:
    """The uplink pair, up, with exactly `addresses` on the inside end and the default
    route through the external gateway."""
    namespace, uplink = link.namespace, link.device
    if not netns.link_exists(namespace, uplink):
        netns.delete_link(link.external_namespace, link.outside)  # a half-made pair
        netns.ip(namespace, "link", "add", uplink, "type", "veth", "peer", "name",
                 link.outside, "netns", link.external_namespace)
        log.info("connected %s to the public side (%s)", namespace, link.outside)
    netns.ip(link.external_namespace, "link", "set", link.outside, "master",
             EXTERNAL_BRIDGE, "up")
    netns.ip(namespace, "link", "set", uplink, "up")
    for stale in netns.addresses(namespace, uplink) - addresses:
        netns.ip(namespace, "addr", "del", stale, "dev", uplink)
    for cidr in sorted(addresses):
        netns.set_address(namespace, uplink, cidr)
    netns.ip(namespace, "route", "replace", "default", "via", gateway, "dev", uplink)
