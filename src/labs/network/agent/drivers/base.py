"""The network driver interface: what a compute agent asks of its host's networking.

Labs networks follow nova-network's "flat DHCP per project": a project's network is one
IPv4 subnet (its fixed IPs) on one layer-2 segment, with a gateway that also serves DHCP
(static leases only), DNS for the project's names and the metadata address. A VM has one
port per network; its security rules, its floating IPs and its lease hang off the port.
The caller decides every value (subnet, addresses, MACs, floating IPs): a driver only
makes the host match them.

Every driver follows the same rules:

- Failure: operations raise NetworkError or a subclass, never a tool's own exception.
  Bad values raise InvalidRequest (a 400 for the API) before anything is changed. A failed
  `plug` removes everything that plug made; other failures leave what was there before,
  or a state that `list_ports` reports truthfully, so that repeating the call fixes it.
- Idempotence: `ensure_network` and `plug` (with the same spec) may be repeated and
  repair what is missing; `delete_network` and `unplug` of something missing succeed.
- Restart: kernel objects and processes outlive the agent. A new driver object on the
  same state directory and name prefix sees the same networks and ports (`list_networks`,
  `list_ports`) and can change or remove them.
- Threads: one driver may be called from several threads; it serialises its own work.
- Drivers import nothing database-related and never each other.
"""

from __future__ import annotations

import ipaddress
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from labs.common import errors

Protocol = Literal["tcp", "udp", "icmp"]
Direction = Literal["ingress", "egress"]
NicKind = Literal["tap", "veth"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
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
    the router of its floating IPs; None: an isolated network without floating IPs)."""

    id: str
    project_id: str
    cidr: str
    gateway: str
    dns_domain: str
    mtu: int = 1500
    external_ip: str | None = None

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
        if not _MAC.fullmatch(self.mac) or int(self.mac[:2], 16) & 1:
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


@dataclass(frozen=True)
class Attachment:
    """How the virt driver connects a VM to its plugged port.

    A tap: run qemu inside `netns` (``ip netns exec <netns> qemu ...``) with
    ``-netdev tap,ifname=<device>,script=no,downscript=no`` and give the guest NIC `mac`
    and `mtu`. A veth (for containers and tests): `peer` is the guest end, still in
    `netns` and carrying `mac`; the caller moves it into the guest's namespace.
    """

    port_id: str
    network_id: str
    netns: str
    device: str
    mac: str
    mtu: int
    kind: NicKind = "tap"
    peer: str | None = None


class NetworkDriver(ABC):
    """Wires networks and VM ports on one host. See the module docstring for the rules."""

    name: ClassVar[str]

    @abstractmethod
    def ensure_network(self, spec: NetworkSpec) -> None:
        """Make the network exist as `spec` says: its segment with the gateway address,
        DHCP and DNS serving its ports' leases and names, its base filter and NAT rules,
        its uplink when it has an external IP. Repeatable; repairs what is missing and
        applies changed values (id and project stay)."""

    @abstractmethod
    def delete_network(self, network_id: str) -> None:
        """Remove the network and everything on it (ports included): no kernel object,
        process or state file is left. A missing network is fine."""

    @abstractmethod
    def list_networks(self) -> list[NetworkSpec]:
        """The networks this host has, also those an earlier agent process made."""

    @abstractmethod
    def plug(self, port: PortSpec, kind: NicKind = "tap") -> Attachment:
        """Create the port's device on its network, add its DHCP lease and DNS name, and
        filter it: inbound only established traffic until `set_security_rules`, outbound
        only from its own MAC and IP. The device is filtered before it joins the segment.
        NetworkNotFound if the network is missing; InvalidRequest if the IP is not a host
        of the subnet or is the gateway; PortConflict if the id, IP or MAC is taken by a
        different port. Plugging the same spec again repairs and returns the attachment."""

    @abstractmethod
    def unplug(self, port_id: str) -> None:
        """Remove the port's device, lease, name, rules and floating IPs. A missing port
        is fine."""

    @abstractmethod
    def list_ports(self) -> list[Attachment]:
        """Every plugged port, also those an earlier agent process plugged."""

    @abstractmethod
    def set_security_rules(self, port_id: str, rules: Sequence[SecurityRule],
                           group_members: Mapping[str, Sequence[str]]) -> None:
        """Replace the port's allow rules at once (no moment with neither the old nor the
        new set). `group_members` maps each remote group the rules name to its members'
        IPs; a group missing from it has no members. PortNotFound if missing."""

    @abstractmethod
    def add_floating_ip(self, port_id: str, floating_ip: str) -> None:
        """Make the port reachable at `floating_ip` from the public side (and let its
        outbound traffic leave from that address). Adding it again is fine.
        PortNotFound if missing; InvalidRequest if the network has no external IP or the
        address is not on the public side; PortConflict if another port holds it."""

    @abstractmethod
    def remove_floating_ip(self, port_id: str, floating_ip: str) -> None:
        """Undo `add_floating_ip`. A port without that floating IP is fine."""

    def close(self) -> None:  # noqa: B027 - an optional hook, empty on purpose
        """Release what the driver holds (not the networks: they keep working)."""
