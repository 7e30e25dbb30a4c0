"""How networks and subnets look in the API (Neutron v2.0's attributes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labs.network.topology import NetworkRecord

#: Every network's MTU (what the bridge driver configures).
MTU = 1500


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _standard(record: NetworkRecord) -> dict[str, Any]:
    """What every Neutron resource carries: its owner, dates, revision, tags."""
    when = timestamp(record.created_at)
    return {"project_id": record.project_id, "tenant_id": record.project_id,
            "description": "", "tags": [], "created_at": when, "updated_at": when,
            "revision_number": 0}


def network(record: NetworkRecord) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "status": "ACTIVE",
            "admin_state_up": True, "shared": False, "router:external": record.external,
            "mtu": MTU, "subnets": [record.subnet_id], **_standard(record)}


def subnet(record: NetworkRecord) -> dict[str, Any]:
    """The network's one subnet; the external one hands out no addresses by DHCP."""
    return {"id": record.subnet_id, "name": f"{record.name}-subnet",
            "network_id": record.id, "ip_version": 4, "cidr": record.cidr,
            "gateway_ip": record.gateway, "enable_dhcp": not record.external,
            "allocation_pools": [{"start": record.pool_start, "end": record.pool_end}],
            "dns_nameservers": [], "host_routes": [], "ipv6_ra_mode": None,
            "ipv6_address_mode": None, "subnetpool_id": None, **_standard(record)}
