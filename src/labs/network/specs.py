"""Network's vocabulary: the errors, checks and values that the network's data side, its
drivers, the metadata service and the DNS relay share.

A project's network (`NetworkSpec`), a VM's port on it (`PortSpec`) and the allow rules
of the port's security groups (`SecurityRule`) check their values when made: a bad value
raises InvalidRequest (a 400 for the API) before anything is changed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from labs.common import errors

Protocol = Literal["tcp", "udp", "icmp"]
Direction = Literal["ingress", "egress"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_PROTOCOLS = ("tcp", "udp", "icmp")


class NetworkError(Exception):
    """A driver operation failed; the message says which and why."""


class InvalidRequest(NetworkError, errors.BadRequest):
    """A value the driver cannot use (bad CIDR, address, port range, ...); nothing changed."""


class NetworkNotFound(NetworkError):
    """The host has no network with that id."""


class PortNotFound(NetworkError):
    """The host has no port with that id."""


class PortConflict(NetworkError):
    """The port id (or the device name it maps to) is taken by a different port."""


def check_id(kind: str, value: str) -> str:
    """An id as used in kernel object and file names: letters, digits, '-' and '_'."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidRequest(
            f"bad {kind} id {value!r}: use 1-64 letters, digits, '-' or '_'")
    return value


def check_ipv4(kind: str, value: str) -> ipaddress.IPv4Address:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise InvalidRequest(f"bad {kind} {value!r}: not an IP address") from None
    if not isinstance(address, ipaddress.IPv4Address):
        raise InvalidRequest(f"bad {kind} {value!r}: Labs networks are IPv4")
    return address


def check_int(kind: str, value: object, low: int, high: int) -> int:
    """An integer within [low, high]; not a bool, a string or a float (they would reach
    nft and dnsmasq as text)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"{kind} {value!r} is outside {low}-{high}")
    return value


def check_cidr(kind: str, value: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise InvalidRequest(f"bad {kind} {value!r}: {exc}") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise InvalidRequest(f"bad {kind} {value!r}: Labs networks are IPv4")
    return net


def check_hostname(kind: str, value: str, *, dotted: bool) -> str:
    """A DNS name: one label (a VM's hostname) or several (a domain), lower case."""
    labels = value.split(".") if dotted else [value]
    if not value or len(value) > 253 or not all(_LABEL.fullmatch(x) for x in labels):
        raise InvalidRequest(
            f"bad {kind} {value!r}: use lower-case letters, digits and '-'"
            + (" in dot-separated labels" if dotted else ""))
    return value


@dataclass(frozen=True)
class NetworkSpec:
    """One project network: its subnet, gateway (DHCP, DNS and router address), the DNS
    domain its VMs live in (``<project>.<domain>``, also their search domain) and its
    address on the cloud's public side (`external_ip`: the source of its outbound NAT and
    the router of its floating IPs; None: an isolated network without floating IPs).
    Without `dhcp` its VMs get no lease (the gateway still answers DNS); `dns_servers`
    are the name servers DHCP hands out instead of the gateway; `host_routes` the
    subnet's extra routes ((destination CIDR, next hop inside the subnet)), handed out
    by DHCP as classless static routes."""

    id: str
    project_id: str
    cidr: str
    gateway: str
    dns_domain: str
    mtu: int = 1500
    external_ip: str | None = None
    dhcp: bool = True
    dns_servers: tuple[str, ...] = ()
    host_routes: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        check_id("network", self.id)
        check_id("project", self.project_id)
        net = check_cidr("network CIDR", self.cidr)
        if net.prefixlen > 29:
            raise InvalidRequest(f"network CIDR {self.cidr} is too small (at most /29)")
        gateway = check_ipv4("gateway", self.gateway)
        if gateway not in net or gateway in (net.network_address, net.broadcast_address):
            raise InvalidRequest(f"gateway {self.gateway} is not a host address of {self.cidr}")
        check_hostname("DNS domain", self.dns_domain, dotted=True)
        check_int("bad MTU", self.mtu, 576, 9000)
        if self.external_ip is not None:
            check_ipv4("external IP", self.external_ip)
        if not isinstance(self.dhcp, bool):
            raise InvalidRequest(f"bad DHCP switch {self.dhcp!r}: true or false")
        object.__setattr__(self, "dns_servers", tuple(self.dns_servers))
        for server in self.dns_servers:
            check_ipv4("DNS server", server)
        object.__setattr__(self, "host_routes", check_routes(self.host_routes, net))


def check_routes(routes: object, net: ipaddress.IPv4Network) -> tuple[tuple[str, str], ...]:
    """Host routes as (destination CIDR, next hop): each next hop a host address of
    `net` (a pair, or a Neutron-style {"destination", "nexthop"})."""
    if not isinstance(routes, list | tuple):
        raise InvalidRequest(f"bad host routes {routes!r}: a list of (destination, nexthop)")
    out = []
    for route in routes:
        if isinstance(route, Mapping):
            route = (route.get("destination"), route.get("nexthop"))
        if not isinstance(route, list | tuple) or len(route) != 2 \
                or not all(isinstance(x, str) for x in route):
            raise InvalidRequest(f"bad host route {route!r}: (destination, nexthop)")
        destination = check_cidr("host route destination", route[0])
        hop = check_ipv4("host route next hop", route[1])
        if hop not in net or hop in (net.network_address, net.broadcast_address):
            raise InvalidRequest(f"host route next hop {hop} is not a host address of {net}")
        out.append((str(destination), str(hop)))
    return tuple(out)


@dataclass(frozen=True)
class PortSpec:
    """A VM's interface on a network: the guest NIC's MAC, its fixed IP (given by DHCP as
    a static lease) and the hostname DHCP and DNS give it."""

    id: str
    network_id: str
    mac: str
    ip: str
    hostname: str
    instance_id: str

    def __post_init__(self) -> None:
        check_id("port", self.id)
        check_id("network", self.network_id)
        check_id("instance", self.instance_id)
        if not MAC.fullmatch(self.mac) or int(self.mac[:2], 16) & 1:
            raise InvalidRequest(
                f"bad MAC {self.mac!r}: use a lower-case unicast aa:bb:cc:dd:ee:ff")
        check_ipv4("fixed IP", self.ip)
        check_hostname("hostname", self.hostname, dotted=False)


@dataclass(frozen=True)
class SecurityRule:
    """One allow rule of a port's security groups (everything not allowed is dropped).

    `protocol` None means any protocol (then no ports). For tcp and udp, `port_min` and
    `port_max` bound the destination port (1-65535; both None: every port; only
    `port_min`: that one port). For icmp they are the ICMP type and code (0-255, None:
    any). The peer is `remote_cidr`, or the members of `remote_group`, or anyone when
    both are None. Egress: with no egress rule a port may send anything (nova-network's
    behaviour); with some, only what they allow.
    """

    direction: Direction = "ingress"
    protocol: Protocol | None = None
    port_min: int | None = None
    port_max: int | None = None
    remote_cidr: str | None = None
    remote_group: str | None = None

    def __post_init__(self) -> None:
        if self.direction not in ("ingress", "egress"):
            raise InvalidRequest(f"bad direction {self.direction!r}: use ingress or egress")
        if self.protocol is not None and self.protocol not in _PROTOCOLS:
            raise InvalidRequest(
                f"unknown protocol {self.protocol!r}: use tcp, udp, icmp or none for any")
        if self.port_max is not None and self.port_min is None:
            raise InvalidRequest("port_max needs port_min")
        if self.protocol in ("tcp", "udp"):
            for value in (self.port_min, self.port_max):
                if value is not None:
                    check_int("port", value, 1, 65535)
            if self.port_max is not None and self.port_min is not None \
                    and self.port_min > self.port_max:
                raise InvalidRequest(
                    f"port range {self.port_min}-{self.port_max}: min is above max")
        elif self.protocol == "icmp":
            for value in (self.port_min, self.port_max):
                if value is not None:
                    check_int("ICMP type or code", value, 0, 255)
        elif self.port_min is not None:
            raise InvalidRequest("ports need a protocol (tcp, udp or icmp)")
        if self.remote_group is not None and not isinstance(self.remote_group, str):
            raise InvalidRequest(f"bad remote group {self.remote_group!r}")
        if self.remote_cidr is not None and self.remote_group is not None:
            raise InvalidRequest("a rule has a remote CIDR or a remote group, not both")
        if self.remote_cidr is not None:
            try:
                ipaddress.IPv4Network(str(self.remote_cidr), strict=False)
            except ValueError:
                raise InvalidRequest(f"bad remote CIDR {self.remote_cidr!r}") from None
