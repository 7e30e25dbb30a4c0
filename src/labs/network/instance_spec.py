"""The network part of an instance's build spec, as compute's conductor makes it and its
agent reads it: each port (`InstancePort`) with its network, its security
(`PortSecurity`, `AddressPair`), the user router its subnet is on (`RouterPart`) and its
floating IPs; a server's ``addresses`` made from them. Travels as plain dicts
(`to_message`/`from_message`), read back also from older messages.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from labs.network.specs import (
    MAC,
    InvalidRequest,
    NetworkSpec,
    PortSpec,
    SecurityRule,
    check_cidr,
    check_id,
    check_ipv4,
)


def server_addresses(label: str, address: str, mac: str,
                     floating_ips: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
    """A server's ``addresses`` (Nova's format): its fixed IP, then its floating IPs, under
    its network's label."""
    entries: list[dict[str, Any]] = [
        {"version": 4, "addr": address, "OS-EXT-IPS:type": "fixed",
         "OS-EXT-IPS-MAC:mac_addr": mac}]
    entries += [{"version": 4, "addr": floating, "OS-EXT-IPS:type": "floating",
                 "OS-EXT-IPS-MAC:mac_addr": mac} for floating in floating_ips]
    return {label: entries}


@dataclass(frozen=True)
class AddressPair:
    """An address (or CIDR) a port may also send from (Neutron's allowed address pair),
    with the MAC it comes from (None: the port's own)."""

    ip: str
    mac: str | None = None

    def __post_init__(self) -> None:
        try:
            net = ipaddress.IPv4Network(self.ip, strict=False)  # Labs networks are IPv4
        except (ValueError, TypeError):
            raise InvalidRequest(f"bad allowed address {self.ip!r}") from None
        object.__setattr__(self, "ip", str(net))
        if self.mac is not None and (not isinstance(self.mac, str) or not MAC.fullmatch(
                self.mac) or int(self.mac[:2], 16) & 1):
            raise InvalidRequest(f"bad allowed MAC {self.mac!r}")

    @classmethod
    def of(cls, pair: Mapping[str, Any]) -> AddressPair:
        """From Neutron's {"ip_address", "mac_address"}."""
        return cls(ip=pair.get("ip_address", ""), mac=pair.get("mac_address"))


@dataclass(frozen=True)
class PortSecurity:
    """The allow rules of a port's security groups, and the fixed IPs of the members of
    each group the rules name (a group missing here has no members). With `enabled`
    False (Neutron's ``port_security_enabled``) the host filters nothing for the port:
    no rules, no anti-spoofing. `allowed_pairs` may send besides the port's own MAC and
    IP."""

    rules: tuple[SecurityRule, ...] = ()
    members: Mapping[str, list[str]] = field(default_factory=dict)
    enabled: bool = True
    allowed_pairs: tuple[AddressPair, ...] = ()

    def to_message(self) -> dict[str, Any]:
        return {"rules": [asdict(rule) for rule in self.rules],
                "members": dict(self.members), "enabled": self.enabled,
                "allowed_address_pairs": [
                    {"ip_address": p.ip, **({"mac_address": p.mac} if p.mac else {})}
                    for p in self.allowed_pairs]}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> PortSecurity:
        """What `to_message` made (without `enabled` or pairs: enabled, none)."""
        return cls(rules=tuple(SecurityRule(**rule) for rule in message.get("rules", [])),
                   members=dict(message.get("members", {})),
                   enabled=bool(message.get("enabled", True)),
                   allowed_pairs=tuple(AddressPair.of(p) for p in message.get(
                       "allowed_address_pairs") or ()))


@dataclass(frozen=True)
class RouterPart:
    """The user router a port's subnet is on, as its host builds it: its external IP
    (None: no gateway), its networks as (network id, CIDR) in the order they joined, and
    its floating IPs as (floating address, fixed address). A network on a user router
    leaves through it (its own uplink is not used) and its ports' floating IPs come in
    through it."""

    id: str
    external_ip: str | None = None
    networks: tuple[tuple[str, str], ...] = ()
    floating: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        check_id("router", self.id)
        if self.external_ip is not None:
            check_ipv4("router external IP", self.external_ip)
        object.__setattr__(self, "networks", tuple(
            (check_id("network", n), str(check_cidr("router network CIDR", c)))
            for n, c in self.networks))
        object.__setattr__(self, "floating", tuple(
            (str(check_ipv4("floating IP", f)), str(check_ipv4("fixed IP", x)))
            for f, x in self.floating))

    def to_message(self) -> dict[str, Any]:
        return {"id": self.id, "external_ip": self.external_ip,
                "networks": [{"id": n, "cidr": c} for n, c in self.networks],
                "floating_ips": [{"floating": f, "fixed": x} for f, x in self.floating]}

    @classmethod
    def from_message(cls, message: Mapping[str, Any] | None) -> RouterPart | None:
        """The router a message describes (None for none: older messages have none)."""
        if not message:
            return None
        return cls(id=message["id"], external_ip=message.get("external_ip"),
                   networks=tuple((n["id"], n["cidr"]) for n in message.get("networks", [])),
                   floating=tuple((f["floating"], f["fixed"])
                                  for f in message.get("floating_ips", [])))


@dataclass(frozen=True)
class InstancePort:
    """The network part of an instance's build spec: the project network its host makes
    sure of, the port it plugs (fixed IP, MAC, hostname), the floating IPs it forwards and
    the rules it enforces. `domain` is the cloud's DNS domain (the guest's search
    domain), `dns_domain` the project's. Travels as a plain dict (`to_message`)."""

    network_id: str
    label: str
    cidr: str
    gateway: str
    external_ip: str | None
    project_id: str
    domain: str
    dns_domain: str
    port_id: str
    address: str
    mac: str
    hostname: str
    mtu: int = 1500
    floating_ips: tuple[str, ...] = ()
    security: PortSecurity = field(default_factory=PortSecurity)
    dhcp: bool = True
    dns_servers: tuple[str, ...] = ()
    #: The user router its subnet is on (None: none, or its network's own auto router).
    router: RouterPart | None = None
    host_routes: tuple[tuple[str, str], ...] = ()

    def to_message(self) -> dict[str, Any]:
        return {"network_id": self.network_id, "label": self.label, "cidr": self.cidr,
                "gateway": self.gateway, "external_ip": self.external_ip,
                "project_id": self.project_id, "domain": self.domain,
                "dns_domain": self.dns_domain, "mtu": self.mtu, "port_id": self.port_id,
                "address": self.address, "mac": self.mac, "hostname": self.hostname,
                "floating_ips": list(self.floating_ips), "enable_dhcp": self.dhcp,
                "dns_nameservers": list(self.dns_servers),
                "host_routes": [{"destination": d, "nexthop": h}
                                for d, h in self.host_routes],
                "security": self.security.to_message(),
                **({"router": self.router.to_message()} if self.router is not None else {})}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> InstancePort:
        """The port a message describes (InvalidRequest for a rule that is not one)."""
        security = message.get("security") or {}
        return cls(
            network_id=message["network_id"], label=message["label"],
            cidr=message["cidr"], gateway=message["gateway"],
            external_ip=message.get("external_ip"),
            project_id=str(message.get("project_id") or message["network_id"]),
            domain=message.get("domain", ""), dns_domain=message["dns_domain"],
            port_id=message["port_id"], address=message["address"], mac=message["mac"],
            hostname=message["hostname"], mtu=int(message.get("mtu", 1500)),
            floating_ips=tuple(message.get("floating_ips") or ()),
            dhcp=bool(message.get("enable_dhcp", True)),
            dns_servers=tuple(message.get("dns_nameservers") or ()),
            host_routes=tuple((r.get("destination"), r.get("nexthop"))
                              for r in message.get("host_routes") or ()),
            security=PortSecurity.from_message(security),
            router=RouterPart.from_message(message.get("router")))

    def network_spec(self) -> NetworkSpec:
        """The network its host makes sure of (with no uplink while a router routes
        it)."""
        external_ip = self.external_ip if self.router is None else None
        return NetworkSpec(id=self.network_id, project_id=self.project_id, cidr=self.cidr,
                           gateway=self.gateway, dns_domain=self.dns_domain, mtu=self.mtu,
                           external_ip=external_ip, dhcp=self.dhcp,
                           dns_servers=self.dns_servers, host_routes=self.host_routes)

    def port_spec(self) -> PortSpec:
        return PortSpec(id=self.port_id, network_id=self.network_id, mac=self.mac,
                        ip=self.address, hostname=self.hostname, instance_id=self.port_id)

    def addresses(self) -> dict[str, Any]:
        """The server's ``addresses`` (Nova's format)."""
        return server_addresses(self.label, self.address, self.mac, self.floating_ips)


#: The most NICs (ports) one instance has.
MAX_PORTS = 8


def ports_message(ports: Sequence[InstancePort]) -> dict[str, Any] | None:
    """The ``network`` part of a build spec for an instance's ports, in NIC order: the
    first port's own message (all that agents of the previous release read), with every
    port's under ``ports``. None without ports."""
    if not ports:
        return None
    return {**ports[0].to_message(), "ports": [port.to_message() for port in ports]}


def ports_of(message: Mapping[str, Any] | None) -> list[InstancePort]:
    """The ports a build spec's ``network`` part holds, in NIC order: its ``ports``, or,
    as conductors of the previous release send it, the one port it is."""
    if not message:
        return []
    listed = message.get("ports")
    if listed is None:
        return [InstancePort.from_message(message)]
    return [InstancePort.from_message(port) for port in listed]


def ports_addresses(ports: Sequence[InstancePort]) -> dict[str, Any]:
    """A server's ``addresses`` over all its ports (two networks of one name share it)."""
    out: dict[str, Any] = {}
    for port in ports:
        for label, entries in port.addresses().items():
            out.setdefault(label, []).extend(entries)
    return out
