"""A router on a host: namespace ``<prefix>-rtr-<R>`` joining the namespaces of the
networks on router R, with R's way out.

- one veth pair per joined network over a link-local transit /30: ``tr<k>`` in the
  router's namespace with 169.254.<k>.1, ``rtr`` in the network's namespace with
  169.254.<k>.2 (a network is on one router at most; k counts the router's networks
  from 1, skipping 169, the metadata address's). The router routes each network's range
  via its transit address; the network's namespace routes everything else via the
  router's. The network's namespace keeps its gateway, dnsmasq, metadata redirect and
  port filters: what comes in from the router meets the ports' ingress rules with its
  original source.
- with a gateway, veth ``gw<R>`` (the router's external IP, its floating IPs as /32s,
  the default route via the public side's gateway) to ``eg<R>`` on ``br-ext`` in the
  public side's namespace; the router's nftables translate the networks' outbound
  traffic to its external IP (SNAT) and each floating IP to its fixed IP (DNAT in, SNAT
  out).

Networks on no common router share no route: nothing leads from one to the other.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from labs.network.agent import netns
from labs.network.agent.drivers.bridge.uplink import Uplink, ensure_public_side, ensure_uplink
from labs.network.specs import InvalidRequest, check_id, check_ipv4

log = logging.getLogger("labs.network.agent.drivers.bridge.routing")

#: The transit end's name in a network's namespace.
NETWORK_SIDE = "rtr"
#: The most networks one router joins on a host (one transit /30 each).
MAX_NETWORKS = 253


@dataclass(frozen=True)
class Joined:
    """A network on the router: its namespace and range."""

    namespace: str
    cidr: str


@dataclass(frozen=True)
class RouterSpec:
    """A router as a host builds it: the networks it joins (in a stable order: their
    transit numbers follow it), its external IP (None: no gateway) and its floating IPs
    (floating address -> fixed address on one of its networks)."""

    id: str
    networks: tuple[Joined, ...]
    external_ip: str | None = None
    floating: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        check_id("router", self.id)
        if len(self.networks) > MAX_NETWORKS:
            raise InvalidRequest(f"router {self.id} joins more than {MAX_NETWORKS} networks")
        ranges = [ipaddress.IPv4Network(j.cidr) for j in self.networks]
        for i, net in enumerate(ranges):
            if any(net.overlaps(other) for other in ranges[:i]):
                raise InvalidRequest(f"router {self.id}: {net} overlaps another of its "
                                     "networks")
        if self.external_ip is not None:
            check_ipv4("router external IP", self.external_ip)
        for fip, fixed in self.floating:
            check_ipv4("floating IP", fip)
            if not any(check_ipv4("fixed IP", fixed) in net for net in ranges):
                raise InvalidRequest(f"fixed IP {fixed} is on none of router {self.id}'s "
                                     "networks")


def transit(k: int) -> tuple[str, str]:
    """The k-th transit pair's addresses: (router side, network side), as /30s."""
    return f"169.254.{k}.1/30", f"169.254.{k}.2/30"


def transit_numbers(count: int) -> list[int]:
    return [k for k in range(1, 256) if k != 169][:count]


def short(ident: str, width: int) -> str:
    return "".join(c for c in ident if c.isalnum())[:width]


class Routing:
    """The routers of a host under `prefix`, with the public side in `external_namespace`
    (``br-ext`` there holds `external_gateway` of `external_net`)."""

    def __init__(self, prefix: str, external_namespace: str,
                 external_net: ipaddress.IPv4Network, external_gateway: str) -> None:
        self.prefix = prefix
        self.external_namespace = external_namespace
        self.external_net = external_net
        self.external_gateway = external_gateway

    def namespace(self, router_id: str) -> str:
        return f"{self.prefix}-rtr-{router_id}"

    def ensure(self, spec: RouterSpec) -> None:
        """The router's namespace, transit pairs, routes, gateway and NAT as `spec` says
        (what it no longer says is taken away)."""
        namespace = self.namespace(spec.id)
        netns.ensure(namespace, router=True)
        numbers = transit_numbers(len(spec.networks))
        wanted = {f"tr{k}" for k in numbers}
        for stale in _links(namespace) - wanted - {"lo", self._gateway(spec.id)}:
            netns.delete_link(namespace, stale)
        for k, joined in zip(numbers, spec.networks, strict=True):
            self._join(namespace, k, joined)
        self._ensure_gateway(spec)
        _apply_nat(namespace, spec, self._gateway(spec.id))
        log.info("router %s joins %d networks in %s", spec.id, len(spec.networks),
                 namespace)

    def delete(self, router_id: str, networks: tuple[Joined, ...] = ()) -> None:
        """The router's namespace (its transit and gateway pairs go with it), and the
        default routes `networks` had through it."""
        netns.delete(self.namespace(router_id))
        for joined in networks:
            if netns.exists(joined.namespace):
                netns.delete_link(joined.namespace, NETWORK_SIDE)

    def unjoined(self) -> list[str]:
        """The routers (ids) whose namespace exists but joins no network any more."""
        start = self.namespace("")
        return [name[len(start):] for name in netns.names(start)
                if name.startswith(start) and not any(
                    link.startswith("tr") for link in _links(name))]

    def _join(self, namespace: str, k: int, joined: Joined) -> None:
        device = f"tr{k}"
        router_side, network_side = transit(k)
        if not netns.link_exists(namespace, device) or not netns.link_exists(
                joined.namespace, NETWORK_SIDE) or network_side not in netns.addresses(
                joined.namespace, NETWORK_SIDE):
            netns.delete_link(namespace, device)
            netns.delete_link(joined.namespace, NETWORK_SIDE)
            netns.ip(namespace, "link", "add", device, "type", "veth", "peer", "name",
                     NETWORK_SIDE, "netns", joined.namespace)
        netns.set_address(namespace, device, router_side)
        netns.set_address(joined.namespace, NETWORK_SIDE, network_side)
        netns.ip(namespace, "link", "set", device, "up")
        netns.ip(joined.namespace, "link", "set", NETWORK_SIDE, "up")
        netns.ip(namespace, "route", "replace", joined.cidr, "via",
                 network_side.split("/")[0], "dev", device)
        netns.ip(joined.namespace, "route", "replace", "default", "via",
                 router_side.split("/")[0], "dev", NETWORK_SIDE)

    def _gateway(self, router_id: str) -> str:
        return "gw" + short(router_id, 12)

    def _ensure_gateway(self, spec: RouterSpec) -> None:
        namespace, device = self.namespace(spec.id), self._gateway(spec.id)
        if spec.external_ip is None:
            netns.delete_link(namespace, device)
            return
        prefixlen = self.external_net.prefixlen
        ensure_public_side(self.external_namespace, f"{self.external_gateway}/{prefixlen}")
        wanted = {f"{spec.external_ip}/{prefixlen}", *(f"{fip}/32" for fip, _ in
                                                        spec.floating)}
        ensure_uplink(Uplink(namespace, device, self.external_namespace,
                             "eg" + short(spec.id, 12)), wanted, self.external_gateway)


def _links(namespace: str) -> set[str]:
    shown = netns.ip(namespace, "-o", "link", "show").stdout
    return {line.split(":")[1].strip().split("@")[0] for line in shown.splitlines()
            if line.strip()}


def render(spec: RouterSpec, gateway: str) -> str:
    """The router's NAT: floating IPs in and out, the networks' other traffic out
    through the external IP."""
    out = ["table ip labs", "delete table ip labs", "table ip labs {",
           "  chain prerouting {",
           "    type nat hook prerouting priority dstnat; policy accept;"]
    if spec.external_ip is not None:
        out += [f'    iifname "{gateway}" ip daddr {fip} dnat to {fixed}'
                for fip, fixed in spec.floating]
    out += ["  }", "  chain postrouting {",
            "    type nat hook postrouting priority srcnat; policy accept;"]
    if spec.external_ip is not None:
        out += [f'    oifname "{gateway}" ip saddr {fixed} snat to {fip}'
                for fip, fixed in spec.floating]
        out += [f'    oifname "{gateway}" ip saddr {j.cidr} snat to {spec.external_ip}'
                for j in spec.networks]
    out += ["  }", "}"]
    return "\n".join(out) + "\n"


def _apply_nat(namespace: str, spec: RouterSpec, gateway: str) -> None:
    netns.require_tools("nft")
    netns.run(["nft", "-f", "-"], netns=namespace, input=render(spec, gateway))
