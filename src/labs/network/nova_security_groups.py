"""Security groups as the compute API's nova-network proxies (``os-security-groups``)
change them: Nova's checks, messages and quotas over the network's Neutron-shaped groups,
so both APIs read the same rows.

As Nova with Neutron does, ids are the groups' UUIDs and a rule added here is an IPv4
ingress rule. Nova-network's own behaviour stays where clients rely on it: a rule names
tcp, udp or icmp (icmp type and code -1 for any), a group source without a protocol adds
three rules (icmp, tcp and udp), duplicates and a group in use are 400s, and the
quotas are the network's (``security_group``, ``security_group_rule`` per project, as
Nova with Neutron has them) with Nova's 403s.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from labs.common.context import RequestContext
from labs.common.errors import BadRequest
from labs.network import models
from labs.network.quota import ProjectQuota, check
from labs.network.security_groups import (
    DEFAULT,
    SecurityGroups,
    egress_rules,
    project_of,
)
from labs.network.security_rules import GroupRecord, RuleSpec, SecurityGroupRuleExists

PROTOCOLS = ("tcp", "udp", "icmp")


@dataclass(frozen=True)
class RuleRequest:
    """A rule as the API receives it (before checking)."""

    parent_group_id: str
    ip_protocol: str | None
    from_port: int | str | None
    to_port: int | str | None
    cidr: str | None = None
    group_id: str | None = None


def check_group_field(kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"Security group {kind} is not a string or unicode")
    if not value.strip():
        raise BadRequest(f"Security group {kind} cannot be empty.")
    if len(value) > 255:
        raise BadRequest(f"Security group {kind} should not be greater than 255 characters.")
    return value


def _port(value: int | str | None, what: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid port range {what}: {value!r} is not a number.") from None


def check_ports(protocol: str, low: int | None, high: int | None) -> tuple[int, int]:
    """Nova's checks: tcp and udp 1-65535 with low <= high; icmp type and code -1-255."""
    if low is None or high is None:
        raise BadRequest(f"Invalid port range {low}:{high}. Ports must be given for "
                         f"{protocol}.")
    if protocol == "icmp":
        if not (-1 <= low <= 255 and -1 <= high <= 255):
            raise BadRequest(f"Invalid port range {low}:{high}. For ICMP, the type and "
                             "code must be between -1 and 255.")
        return low, high
    if not (1 <= low <= 65535 and 1 <= high <= 65535) or low > high:
        raise BadRequest(f"Invalid port range {low}:{high}. Valid {protocol.upper()} ports "
                         "should be between 1-65535")
    return low, high


def _cidr(cidr: str | None) -> str:
    if cidr is None or cidr == "":
        return "0.0.0.0/0"
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except (ValueError, TypeError):
        raise BadRequest(f"Invalid cidr {cidr}.") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise BadRequest(f"Invalid cidr {cidr}: Labs networks are IPv4.")
    return str(net)


def _spec(group_id: str, protocol: str, low: int, high: int, cidr: str | None,
          remote: str | None) -> RuleSpec:
    """A nova-network rule as an ingress rule (icmp's -1: any type, any code)."""
    first: int | None = low
    last: int | None = high
    if protocol == "icmp":
        first = None if low < 0 else low
        last = None if first is None or high < 0 else high
    return RuleSpec(group_id, "ingress", "IPv4", protocol, first, last, cidr, remote)


class NovaSecurityGroups:
    def __init__(self, groups: SecurityGroups) -> None:
        self.groups = groups
        self.db = groups.db

    def list_groups(self, ctx: RequestContext, project_id: str | None) -> list[GroupRecord]:
        return self.groups.list_groups(ctx, project_id)

    def get(self, ctx: RequestContext, group_id: str) -> GroupRecord:
        return self.groups.get(ctx, group_id)

    def find(self, tx: Session, project_id: str, name: str) -> models.SecurityGroup | None:
        return self.groups.find(tx, project_id, name)

    def create(self, ctx: RequestContext, name: object, description: object,
               quota: ProjectQuota | None = None) -> GroupRecord:
        """A new group (letting everything out, nothing in), within the project's
        ``security_group`` quota (``default`` counts, as in Nova)."""
        project_id = project_of(ctx)
        name = check_group_field("name", name)
        description = check_group_field("description", description) \
            if description not in (None, "") else ""
        self.groups.ensure_default(project_id)
        if quota is not None:
            quota.ready(project_id)
        with self.db.transaction() as tx:
            if quota is not None:
                limits = quota.lock(tx, project_id)  # before counting
                check(limits, "security_group", self.groups.count(tx, project_id), 1,
                      "Quota exceeded, too many security groups.")
            if self.groups.find(tx, project_id, name) is not None:
                raise BadRequest(f"Security group {name} already exists")
            group = self.groups.add_group(tx, project_id, name, description)
            self.groups.add_rules(tx, group, egress_rules(group.id))
            return self.groups.told_group(tx, "create", group)

    def update(self, ctx: RequestContext, group_id: str, name: object,
               description: object) -> None:
        name = check_group_field("name", name)
        description = check_group_field("description", description)
        if self.get(ctx, group_id).name == DEFAULT and name != DEFAULT:
            raise BadRequest("Unable to update system group 'default'")
        self.groups.update_group(ctx, group_id, {"name": name, "description": description})

    def delete(self, ctx: RequestContext, group_id: str, in_use: bool) -> str:
        """Delete the group; `in_use`: whether a server names it. Returns the project."""
        group = self.get(ctx, group_id)
        if group.name == DEFAULT:
            raise BadRequest("Removing default security group not allowed.")
        if in_use:
            raise BadRequest("Security group is still in use")
        return self.groups.delete_group(ctx, group_id, in_use)

    def add_rule(self, ctx: RequestContext, req: RuleRequest,
                 quota: ProjectQuota | None = None) -> GroupRecord:
        """Add a rule (or, for a group source without a protocol, one each for icmp, tcp
        and udp, as nova-network does): the parent group with only the new rules, within
        the project's ``security_group_rule`` quota."""
        if quota is not None:
            quota.ready(self.get(ctx, req.parent_group_id).project_id)
        with self.db.transaction() as tx:
            parent = self.groups.group_row(tx, ctx, req.parent_group_id)
            limits = quota.lock(tx, parent.project_id) if quota is not None else {}
            remote = self.groups.group_row(tx, ctx, req.group_id) if req.group_id else None
            if remote is not None and remote.project_id != parent.project_id:
                raise BadRequest("A rule's source group must be of the same project.")
            specs = self._specs(parent.id, req, remote.id if remote else None)
            check(limits, "security_group_rule",
                  self.groups.count_rules(tx, parent.project_id), len(specs),
                  "Quota exceeded, too many security group rules.")
            try:
                made = self.groups.add_rules(tx, parent, specs)
            except SecurityGroupRuleExists:
                raise BadRequest(f"This rule already exists in group {parent.id}") from None
            for rule in made:
                self.groups.told_rule(tx, "create", rule, parent)
            record = self.groups.records(tx, [parent])[0]
            ids = {rule.id for rule in made}
            return replace(record, rules=[r for r in record.rules if r.id in ids])

    def delete_rule(self, ctx: RequestContext, rule_id: str) -> str:
        """Delete a rule; returns its group's project id."""
        return self.groups.delete_rule(ctx, rule_id)

    @staticmethod
    def _specs(group_id: str, req: RuleRequest, remote: str | None) -> list[RuleSpec]:
        cidr = _cidr(req.cidr) if remote is None else None
        protocol = req.ip_protocol.lower() if isinstance(req.ip_protocol, str) else \
            req.ip_protocol
        low, high = _port(req.from_port, "from_port"), _port(req.to_port, "to_port")
        if not protocol and remote is not None and low is None and high is None:
            return [_spec(group_id, "icmp", -1, -1, None, remote),
                    _spec(group_id, "tcp", 1, 65535, None, remote),
                    _spec(group_id, "udp", 1, 65535, None, remote)]
        if protocol not in PROTOCOLS:
            raise BadRequest(f"Invalid IP protocol {req.ip_protocol}.")
        assert protocol is not None
        return [_spec(group_id, protocol, *check_ports(protocol, low, high), cidr, remote)]

