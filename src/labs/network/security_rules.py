"""Security groups' vocabulary: the records callers see, the errors (named as Neutron's,
so the network API can give each its Neutron ``type``) and the checks a new rule passes.

A rule is Neutron's: a direction (ingress or egress), an ethertype (IPv4 or IPv6), a
protocol (any, a name or a number 0-255; kept as the name when it has one), a port
range (tcp, udp, sctp, udplite and dccp: 1-65535, min <= max; icmp: type and code
0-255) and a peer: a CIDR of the ethertype's family or the members of a group, not both.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from labs.common.errors import BadRequest, Conflict, NotFound
from labs.network import models

DIRECTIONS = ("ingress", "egress")
ETHERTYPES = ("IPv4", "IPv6")
#: IANA protocol numbers of the names Neutron accepts.
PROTOCOL_NUMBERS = {
    "hopopt": 0, "icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "egp": 8, "pgm": 113, "udp": 17,
    "ipv6-encap": 41, "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47, "esp": 50,
    "ah": 51, "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "ospf": 89, "vrrp": 112,
    "sctp": 132, "udplite": 136, "dccp": 33}
PROTOCOL_NAMES = {number: name for name, number in PROTOCOL_NUMBERS.items()}
WITH_PORTS = ("tcp", "udp", "sctp", "udplite", "dccp")
ICMP = ("icmp", "ipv6-icmp")


class SecurityGroupNotFound(NotFound):
    neutron_type = "SecurityGroupNotFound"


class SecurityGroupRuleNotFound(NotFound):
    neutron_type = "SecurityGroupRuleNotFound"


class SecurityGroupRuleExists(Conflict):
    neutron_type = "SecurityGroupRuleExists"


class SecurityGroupInUse(Conflict):
    neutron_type = "SecurityGroupInUse"


class SecurityGroupCannotRemoveDefault(Conflict):
    neutron_type = "SecurityGroupCannotRemoveDefault"


class SecurityGroupCannotUpdateDefault(Conflict):
    neutron_type = "SecurityGroupCannotUpdateDefault"


class SecurityGroupDefaultAlreadyExists(Conflict):
    neutron_type = "SecurityGroupDefaultAlreadyExists"


class InvalidSecurityGroupRule(BadRequest):
    """A rule's fields do not fit together; `neutron_type` is Neutron's name for the
    case (``SecurityGroupInvalidPortRange``, ...)."""

    def __init__(self, message: str, neutron_type: str = "BadRequest") -> None:
        super().__init__(message)
        self.neutron_type = neutron_type


class InvalidSecurityInput(BadRequest):
    """A field of the wrong kind or value (Neutron's ``InvalidInput``)."""

    neutron_type = "InvalidInput"


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class RuleRecord:
    """A group's rule as the network's callers see it."""

    id: str
    group_id: str
    project_id: str
    direction: str
    ethertype: str
    protocol: str | None
    port_range_min: int | None
    port_range_max: int | None
    remote_ip_prefix: str | None
    remote_group_id: str | None
    description: str
    revision_number: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: models.SecurityGroupRule, project_id: str) -> RuleRecord:
        return cls(id=row.id, group_id=row.group_id, project_id=project_id,
                   direction=row.direction, ethertype=row.ethertype, protocol=row.protocol,
                   port_range_min=row.port_range_min, port_range_max=row.port_range_max,
                   remote_ip_prefix=row.remote_ip_prefix,
                   remote_group_id=row.remote_group_id, description=row.description,
                   revision_number=row.revision_number, created_at=row.created_at,
                   updated_at=row.updated_at)


@dataclass(frozen=True)
class GroupRecord:
    """A security group with its rules (`sources`: the names of the groups they name)."""

    id: str
    project_id: str
    name: str
    description: str
    stateful: bool
    revision_number: int
    created_at: datetime
    updated_at: datetime
    rules: list[RuleRecord] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, row: models.SecurityGroup, rules: list[models.SecurityGroupRule],
           sources: dict[str, str] | None = None) -> GroupRecord:
        return cls(id=row.id, project_id=row.project_id, name=row.name,
                   description=row.description, stateful=row.stateful,
                   revision_number=row.revision_number, created_at=row.created_at,
                   updated_at=row.updated_at,
                   rules=[RuleRecord.of(r, row.project_id) for r in rules],
                   sources=sources or {})


@dataclass(frozen=True)
class RuleSpec:
    """A checked rule, before it is stored (`group_id` is its group's)."""

    group_id: str
    direction: str
    ethertype: str = "IPv4"
    protocol: str | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None
    description: str = ""

    def key(self) -> tuple[Any, ...]:
        """What two rules that do the same have in common (the description aside)."""
        prefix = self.remote_ip_prefix
        if prefix in ("0.0.0.0/0", "::/0"):
            prefix = None  # from anywhere, as no prefix says
        return (self.direction, self.ethertype, self.protocol, self.port_range_min,
                self.port_range_max, prefix, self.remote_group_id)

    @classmethod
    def of(cls, row: models.SecurityGroupRule) -> RuleSpec:
        return cls(group_id=row.group_id, direction=row.direction, ethertype=row.ethertype,
                   protocol=row.protocol, port_range_min=row.port_range_min,
                   port_range_max=row.port_range_max, remote_ip_prefix=row.remote_ip_prefix,
                   remote_group_id=row.remote_group_id, description=row.description)


def check_text(kind: str, value: object, *, empty: bool = True) -> str:
    """A name or description: a string of at most 255 characters."""
    if not isinstance(value, str):
        raise InvalidSecurityInput(f"Invalid input: {kind} {value!r} is not a string.")
    if len(value) > 255:
        raise InvalidSecurityInput(f"Invalid input: {kind} is longer than 255 characters.")
    if not empty and not value.strip():
        raise InvalidSecurityInput(f"Invalid input: {kind} cannot be empty.")
    return value


def check_rule(group_id: str, fields: dict[str, Any]) -> RuleSpec:
    """A rule from the fields of a Neutron request (after `group_id` was found)."""
    direction = fields.get("direction")
    if direction not in DIRECTIONS:
        raise InvalidSecurityInput(
            f"Invalid input: direction {direction!r} is not ingress or egress.")
    ethertype = _ethertype(fields.get("ethertype", "IPv4"))
    protocol = protocol_name(fields.get("protocol"), ethertype)
    low, high = (_int(fields.get(name), name) for name in ("port_range_min",
                                                           "port_range_max"))
    check_ports(protocol, low, high)
    prefix = _prefix(fields.get("remote_ip_prefix"), ethertype)
    remote = fields.get("remote_group_id")
    if remote is not None and not isinstance(remote, str):
        raise InvalidSecurityInput(f"Invalid input: remote_group_id {remote!r} is not a string.")
    if remote is not None and prefix is not None:
        raise InvalidSecurityGroupRule(
            "Only remote_ip_prefix or remote_group_id may be provided.",
            "SecurityGroupRemoteGroupAndRemoteIpPrefix")
    description = check_text("description", fields.get("description") or "")
    return RuleSpec(group_id, direction, ethertype, protocol, low, high, prefix, remote,
                    description)


def protocol_name(value: object, ethertype: str = "IPv4") -> str | None:
    """None (any), a known name (given as a name or a number) or a number 0-255 as text."""
    if value is None or value in ("", "any"):
        return None
    text = str(value).lower() if isinstance(value, str | int) and \
        not isinstance(value, bool) else None
    if text is not None and text.isdigit() and int(text) <= 255:
        text = PROTOCOL_NAMES.get(int(text), str(int(text)))
    elif text not in PROTOCOL_NUMBERS and text != "icmpv6":
        raise InvalidSecurityGroupRule(
            f"Security group rule protocol {value} not supported. Only protocol values "
            f"{sorted(PROTOCOL_NUMBERS)} and integer representations [0 to 255] are "
            "supported.", "SecurityGroupRuleInvalidProtocol")
    if ethertype == "IPv6" and text in ("icmp", "icmpv6"):
        return "ipv6-icmp"
    if text == "icmpv6" or (ethertype == "IPv4" and text == "ipv6-icmp"):
        raise InvalidSecurityGroupRule(
            f"Protocol {value} conflicts with ethertype {ethertype}.",
            "SecurityGroupEthertypeConflictWithProtocol")
    return text


def check_ports(protocol: str | None, low: int | None, high: int | None) -> None:
    """Neutron's port checks: ports need a protocol that has them."""
    if low is None and high is None:
        return
    if protocol is None:
        raise InvalidSecurityGroupRule("Must also specify protocol if port range is given.",
                                       "SecurityGroupProtocolRequiredWithPorts")
    if protocol in WITH_PORTS:
        for value in (low, high):
            if value is not None and not 1 <= value <= 65535:
                raise InvalidSecurityGroupRule(
                    f"Invalid value for port {value}: ports are 1-65535.",
                    "SecurityGroupInvalidPortValue")
        if low is None or high is None or low > high:
            raise InvalidSecurityGroupRule(
                "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                "SecurityGroupInvalidPortRange")
    elif protocol in ICMP:
        for value, name in ((low, "type"), (high, "code")):
            if value is not None and not 0 <= value <= 255:
                raise InvalidSecurityGroupRule(
                    f"Invalid value for ICMP {name}: {value}; it must be 0 to 255.",
                    "SecurityGroupInvalidIcmpValue")
        if low is None:
            raise InvalidSecurityGroupRule(
                f"ICMP code (port-range-max) {high} is provided but ICMP type "
                "(port-range-min) is missing.", "SecurityGroupMissingIcmpType")
    else:
        raise InvalidSecurityGroupRule(
            f"Invalid protocol {protocol} for port range, only supported for TCP, UDP, "
            "UDPLITE, SCTP, DCCP, ICMP and ICMPV6 protocols",
            "SecurityGroupInvalidProtocolForPortRange")


def _ethertype(value: object) -> str:
    for name in ETHERTYPES:
        if isinstance(value, str) and value.lower() == name.lower():
            return name
    raise InvalidSecurityInput(f"Invalid input: ethertype {value!r} is not IPv4 or IPv6.")


def _int(value: object, name: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidSecurityInput(f"Invalid input: {name} {value!r} is not an integer.")
    try:
        return int(value)
    except ValueError:
        raise InvalidSecurityInput(f"Invalid input: {name} {value!r} is not an integer.") from None


def _prefix(value: object, ethertype: str) -> str | None:
    if value is None:
        return None
    try:
        net = ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise InvalidSecurityGroupRule(f"Invalid CIDR {value!r} for remote_ip_prefix.",
                                       "InvalidCIDR") from None
    if f"IPv{net.version}" != ethertype:
        raise InvalidSecurityGroupRule(
            f"Conflicting value ethertype {ethertype} for CIDR {value}",
            "SecurityGroupRuleParameterConflict")
    return str(net)
