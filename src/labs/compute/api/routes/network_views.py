"""How security groups, their rules and floating IPs look on the wire (Nova's
format, ``tenant_id``; groups as Nova with Neutron shows them: UUID ids, ingress rules)."""

from __future__ import annotations

from typing import Any

from labs.network.floating_ips import FloatingIpRecord
from labs.network.security_rules import GroupRecord, RuleRecord

Body = dict[str, Any]


def security_group_rule(group: GroupRecord, rule: RuleRecord) -> Body:
    """A rule lets in either a CIDR (``ip_range``) or a group's members (``group``); a
    protocol without ports shows Nova's any: 1-65535 for tcp and udp, else -1."""
    low, high = rule.port_range_min, rule.port_range_max
    if rule.protocol is not None and low is None and high is None:
        low, high = (1, 65535) if rule.protocol in ("tcp", "udp") else (-1, -1)
    elif rule.protocol == "icmp" and high is None:
        high = -1
    source: Body = {}
    if rule.remote_group_id is not None:
        source = {"name": group.sources.get(rule.remote_group_id),
                  "tenant_id": group.project_id}
    return {"id": rule.id, "parent_group_id": rule.group_id, "ip_protocol": rule.protocol,
            "from_port": low, "to_port": high,
            "ip_range": {"cidr": rule.remote_ip_prefix or "0.0.0.0/0"}
            if rule.remote_group_id is None else {},
            "group": source}


def security_group(group: GroupRecord) -> Body:
    """Only the ingress rules, as Nova with Neutron shows a group."""
    return {"id": group.id, "name": group.name, "description": group.description,
            "tenant_id": group.project_id,
            "rules": [security_group_rule(group, rule) for rule in group.rules
                      if rule.direction == "ingress"]}


def floating_ip(row: FloatingIpRecord) -> Body:
    return {"id": row.id, "ip": row.address, "pool": row.pool, "fixed_ip": row.fixed_ip,
            "instance_id": row.instance_id}
