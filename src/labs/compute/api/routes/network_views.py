"""How security groups, their rules and floating IPs look on the wire (Nova's
format, ``tenant_id``; groups as Nova with Neutron shows them: UUID ids, ingress rules)."""

from __future__ import annotations

import ipaddress
from typing import Any

from labs.compute.api.routes.views import timestamp
from labs.network.floating_ips import FloatingIpRecord
from labs.network.security_rules import GroupRecord, RuleRecord
from labs.network.topology import NetworkRecord

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


#: What Nova's ``os-networks`` shows everyone, and what only admins (nova-network's
#: fields: those Labs has no counterpart of are null, as Nova shows them over Neutron).
NETWORK_FIELDS = ("id", "cidr", "netmask", "gateway", "broadcast", "dns1", "dns2",
                  "cidr_v6", "gateway_v6", "label", "netmask_v6")
NETWORK_ADMIN_FIELDS = (
    "created_at", "updated_at", "deleted_at", "deleted", "injected", "bridge", "vlan",
    "vpn_public_address", "vpn_public_port", "vpn_private_address", "dhcp_start",
    "project_id", "host", "bridge_interface", "multi_host", "priority", "rxtx_base", "mtu",
    "dhcp_server", "enable_dhcp", "share_address")


def network(row: NetworkRecord, admin: bool) -> Body:
    """A network in nova-network's shape, its addresses from its first subnet of each
    IP version."""
    known: Body = {"id": row.id, "label": row.name, "project_id": row.project_id,
                   "mtu": row.mtu, "deleted": False, "injected": False,
                   "multi_host": False, "share_address": row.shared,
                   "created_at": timestamp(row.created_at),
                   "updated_at": timestamp(row.updated_at)}
    for version, suffix in ((4, ""), (6, "_v6")):
        subnet = next((s for s in row.subnets
                       if ipaddress.ip_network(s.cidr, strict=False).version == version), None)
        if subnet is None:
            continue
        net = ipaddress.ip_network(subnet.cidr, strict=False)
        known.update({f"cidr{suffix}": str(net), f"netmask{suffix}": str(net.netmask),
                      f"gateway{suffix}": subnet.gateway_ip})
        if version == 4:
            dns = [*subnet.dns_nameservers, None, None]
            known.update({"broadcast": str(net.broadcast_address), "dns1": dns[0],
                          "dns2": dns[1], "enable_dhcp": subnet.enable_dhcp,
                          "dhcp_start": (subnet.allocation_pools or [{}])[0].get("start")})
    fields = NETWORK_FIELDS + (NETWORK_ADMIN_FIELDS if admin else ())
    return {key: known.get(key) for key in fields}
