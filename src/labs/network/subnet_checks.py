"""What a subnet asked for through the API must be (Neutron's checks, with Neutron's
messages and error types): an IPv4 range Labs can fill with fixed IPs, a gateway
inside it, allocation pools inside it, apart from each other and from the gateway,
name servers and host routes that are addresses and ranges.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from labs.common.errors import BadRequest, Conflict

#: The largest subnet Labs makes (every address of its pools gets a row up front).
MAX_PREFIX = 16
#: The smallest one the host side takes (a gateway and a few addresses).
MIN_PREFIX = 29
#: The addresses a project's subnets hold together (each a row, made with its subnet):
#: two /16s' worth, so no project fills the database with the subnets of its quota.
MAX_PROJECT_ADDRESSES = 2 * 2 ** (32 - MAX_PREFIX)


class InvalidSubnet(BadRequest):
    neutron_type = "HTTPBadRequest"


class InvalidInput(BadRequest):
    neutron_type = "InvalidInput"

    def __init__(self, problem: str) -> None:
        super().__init__(f"Invalid input for operation: {problem}.")


class OutOfBoundsAllocationPool(BadRequest):
    neutron_type = "OutOfBoundsAllocationPool"


class OverlappingAllocationPools(Conflict):
    neutron_type = "OverlappingAllocationPools"


class GatewayConflictWithAllocationPools(Conflict):
    neutron_type = "GatewayConflictWithAllocationPools"


class ProjectAddressesExceeded(Conflict):
    neutron_type = "OverQuota"

    def __init__(self, held: int, asked: int) -> None:
        super().__init__(f"Quota exceeded for resources: ['subnet']. The project's subnets "
                         f"hold {held} addresses; {asked} more would pass Labs' limit of "
                         f"{MAX_PROJECT_ADDRESSES}.")


Pool = tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]


def _address(kind: str, value: Any) -> ipaddress.IPv4Address:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise InvalidSubnet(f"Invalid input for {kind}. Reason: '{value}' is not a valid IP "
                            "address.") from None
    if not isinstance(address, ipaddress.IPv4Address):
        raise InvalidSubnet(f"Invalid input for {kind}. Reason: Labs networks are IPv4.")
    return address


def cidr(value: str) -> ipaddress.IPv4Network:
    """The subnet's range: IPv4, /`MAX_PREFIX` to /`MIN_PREFIX`."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise InvalidSubnet(f"Invalid input for cidr. Reason: '{value}' is not a valid IP "
                            "subnet.") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise InvalidSubnet("Invalid input for cidr. Reason: Labs subnets are IPv4 "
                            "(ip_version 4).")
    if not MAX_PREFIX <= net.prefixlen <= MIN_PREFIX:
        raise InvalidSubnet(f"Invalid input for cidr. Reason: Labs subnets are /{MAX_PREFIX} "
                            f"to /{MIN_PREFIX}; {value} is not.")
    if str(net) != value and f"{net.network_address}/{net.prefixlen}" != value:
        raise InvalidSubnet(f"Invalid input for cidr. Reason: '{value}' isn't a recommended "
                            f"CIDR, use '{net}' instead.")
    return net


#: Ranges no subnet's hosts can be on: "this network", loopback, link-local (the
#: metadata service's 169.254.169.254 is on the gateway), multicast and reserved.
UNUSABLE = tuple(ipaddress.IPv4Network(r) for r in (
    "0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4"))


def usable(net: ipaddress.IPv4Network, public: ipaddress.IPv4Network,
           pool: ipaddress.IPv4Network) -> None:
    """A 400 for a range the host side cannot give a network: one of `UNUSABLE`, the
    public range (`public`: every network's uplink and floating IPs are on it), or the
    cloud's own (`pool`: projects' default networks are carved from it, and named in its
    reverse zone)."""
    for other, what in [*((u, "a special-purpose range") for u in UNUSABLE),
                        (public, "the public range"),
                        (pool, "the range of projects' default networks ([network] "
                               "fixed_range); pick another")]:
        if net.overlaps(other):
            raise InvalidSubnet(f"Invalid input for cidr. Reason: {net} overlaps {other}, "
                                f"{what}.")


def gateway(net: ipaddress.IPv4Network, value: Any, given: bool) -> str:
    """The gateway: the one given (a host address of the range), or the first host."""
    if not given:
        return str(next(net.hosts()))
    if value is None:
        raise InvalidSubnet("Invalid input for gateway_ip. Reason: Labs subnets need a "
                            "gateway (the host side's DHCP, DNS, metadata and router "
                            "address).")
    address = _address("gateway_ip", value)
    if address not in net or address in (net.network_address, net.broadcast_address):
        raise InvalidInput("Gateway is not valid on subnet")
    return str(address)


def pools(net: ipaddress.IPv4Network, gateway_ip: str,
          asked: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    """The allocation pools: those asked (inside the range, apart from each other and
    from the gateway) or every host address but the gateway."""
    gw = ipaddress.IPv4Address(gateway_ip)
    if asked is None:
        return [{"start": str(a), "end": str(b)} for a, b in _around(net, gw)]
    found: list[Pool] = []
    for pool in asked:
        start, end = _address("allocation_pools", pool.get("start")), \
            _address("allocation_pools", pool.get("end"))
        text = f"{start}-{end}"
        if start > end:
            raise InvalidSubnet(f"Invalid input for allocation_pools. Reason: the pool "
                                f"{text} ends before it starts.")
        if start <= net.network_address or end >= net.broadcast_address:
            raise OutOfBoundsAllocationPool(f"The allocation pool {text} spans beyond the "
                                            f"subnet cidr {net}.")
        for a, b in found:
            if start <= b and a <= end:
                raise OverlappingAllocationPools(
                    f"Found overlapping allocation pools: {a}-{b} and {text} for subnet "
                    f"{net}.")
        if start <= gw <= end:
            raise GatewayConflictWithAllocationPools(
                f"Gateway ip {gw} conflicts with allocation pool {text}")
        found.append((start, end))
    if not found:
        raise InvalidSubnet("Invalid input for allocation_pools. Reason: a Labs subnet "
                            "needs at least one pool.")
    return [{"start": str(a), "end": str(b)} for a, b in sorted(found)]


def _around(net: ipaddress.IPv4Network, gw: ipaddress.IPv4Address) -> list[Pool]:
    first = net.network_address + 1
    last = net.broadcast_address - 1
    out = [(first, gw - 1)] if first < gw else []
    if gw < last:
        out.append((gw + 1 if gw >= first else first, last))
    return out


def nameservers(values: list[Any]) -> list[str]:
    out = [str(_address("dns_nameservers", v)) for v in values]
    if len(set(out)) != len(out):
        raise InvalidSubnet("Invalid input for dns_nameservers. Reason: Duplicate "
                            "nameserver.")
    return out


def host_routes(values: list[dict[str, Any]],
                subnet: ipaddress.IPv4Network | None = None) -> list[dict[str, str]]:
    """Host routes as Neutron keeps them; each next hop a host address of `subnet` (its
    VMs reach it directly: DHCP hands the routes out)."""
    out = []
    for route in values:
        try:
            dest = ipaddress.IPv4Network(route.get("destination"), strict=True)
        except (ValueError, TypeError):
            raise InvalidSubnet("Invalid input for host_routes. Reason: "
                                f"'{route.get('destination')}' is not a valid IPv4 "
                                "subnet.") from None
        hop = _address("host_routes", route.get("nexthop"))
        if subnet is not None and (hop not in subnet or hop in (
                subnet.network_address, subnet.broadcast_address)):
            raise InvalidSubnet(f"Invalid input for host_routes. Reason: nexthop {hop} is "
                                f"not a host address of the subnet {subnet}.")
        out.append({"destination": str(dest), "nexthop": str(hop)})
    return out


def project_addresses(held: int, pools_: list[dict[str, str]]) -> None:
    """A 409 when `pools_` would bring a project's subnets (holding `held` addresses) past
    `MAX_PROJECT_ADDRESSES`."""
    asked = sum(int(ipaddress.IPv4Address(p["end"])) - int(ipaddress.IPv4Address(p["start"]))
                + 1 for p in pools_)
    if held + asked > MAX_PROJECT_ADDRESSES:
        raise ProjectAddressesExceeded(held, asked)
