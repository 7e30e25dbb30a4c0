"""How security groups, their rules and floating IPs look on the wire (Nova's
nova-network format: integer ids, ``tenant_id``)."""

from __future__ import annotations

from typing import Any

from labs.network.floating_ips import FloatingIpRecord
from labs.network.security_groups import GroupView, RuleRecord

Body = dict[str, Any]


def security_group_rule(view: GroupView, rule: RuleRecord) -> Body:
    """A rule lets in either a CIDR (``ip_range``) or a group's members (``group``)."""
    source: Body = {}
    if rule.remote_group_id is not None:
        source = {"name": view.sources.get(rule.remote_group_id),
                  "tenant_id": view.group.project_id}
    return {"id": rule.id, "parent_group_id": rule.group_id, "ip_protocol": rule.protocol,
            "from_port": rule.from_port, "to_port": rule.to_port,
            "ip_range": {"cidr": rule.cidr} if rule.remote_group_id is None else {},
            "group": source}


def security_group(view: GroupView) -> Body:
    group = view.group
    return {"id": group.id, "name": group.name, "description": group.description,
            "tenant_id": group.project_id,
            "rules": [security_group_rule(view, rule) for rule in view.rules]}


def floating_ip(row: FloatingIpRecord) -> Body:
    return {"id": row.id, "ip": row.address, "pool": row.pool, "fixed_ip": row.fixed_ip,
            "instance_id": row.instance_id}
