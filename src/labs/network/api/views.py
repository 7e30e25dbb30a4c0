"""How networks, subnets, routers, ports and floating IPs look in the API (Neutron v2.0's
attributes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from labs.network.floating_ips import FloatingIpRecord
from labs.network.ports import PortRecord, port_id_of
from labs.network.routers import RouterRecord
from labs.network.topology import EPOCH, NetworkRecord, SubnetRecord

#: The largest MTU a network may have (the host's links').
MTU = 1500


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _owned(project_id: str, created_at: datetime, updated_at: datetime | None = None,
           description: str = "", revision_number: int = 0) -> dict[str, Any]:
    return {"project_id": project_id, "tenant_id": project_id,
            "description": description, "tags": [], "created_at": timestamp(created_at),
            "updated_at": timestamp(updated_at or created_at),
            "revision_number": revision_number}


def network(record: NetworkRecord) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "status": "ACTIVE",
            "admin_state_up": record.admin_state_up, "shared": record.shared,
            "router:external": record.external, "mtu": record.mtu,
            "subnets": record.subnet_ids,
            **_owned(record.project_id, record.created_at, record.updated_at,
                     record.description, record.revision_number)}


def subnet(record: SubnetRecord) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "network_id": record.network_id,
            "ip_version": 4, "cidr": record.cidr, "gateway_ip": record.gateway_ip,
            "enable_dhcp": record.enable_dhcp,
            "allocation_pools": [dict(p) for p in record.allocation_pools],
            "dns_nameservers": list(record.dns_nameservers),
            "host_routes": [dict(r) for r in record.host_routes], "ipv6_ra_mode": None,
            "ipv6_address_mode": None, "subnetpool_id": None,
            **_owned(record.project_id, record.created_at, record.updated_at,
                     record.description, record.revision_number)}


def port(record: PortRecord, admin: bool = False) -> dict[str, Any]:
    """A port (``binding:host_id`` for `admin` callers only, as Neutron's policy)."""
    return {"id": record.id, "name": record.name, "network_id": record.network_id,
            "mac_address": record.mac, "admin_state_up": record.admin_state_up,
            "status": record.status, "device_id": record.device_id,
            "device_owner": record.device_owner,
            "fixed_ips": [{"subnet_id": s, "ip_address": a} for s, a in record.fixed_ips],
            "allowed_address_pairs": [dict(p) for p in record.allowed_address_pairs],
            "security_groups": list(record.security_groups),
            "port_security_enabled": record.port_security_enabled,
            **({"binding:host_id": record.host} if admin else {}),
            **_owned(record.project_id, record.created_at, record.updated_at,
                     record.description, record.revision_number)}


def router(record: RouterRecord, external: NetworkRecord) -> dict[str, Any]:
    """A router, its gateway (if it has one) on the external network."""
    gateway = {"network_id": external.id, "enable_snat": record.enable_snat,
               "external_fixed_ips": [{"subnet_id": external.subnet_ids[0],
                                       "ip_address": record.external_ip}]
               } if record.external_gateway else None
    return {"id": record.id, "name": record.name, "status": record.status,
            "admin_state_up": record.admin_state_up, "external_gateway_info": gateway,
            **_owned(record.project_id, record.created_at, record.updated_at,
                     record.description, record.revision_number)}


def floatingip(record: FloatingIpRecord, ident: str, network_id: str,
               router_id: str | None = None) -> dict[str, Any]:
    """A floating IP (`ident`: its API id): ACTIVE while associated, DOWN otherwise; its
    dates are those of its last change (allocation or association)."""
    moment = record.updated_at.replace(tzinfo=UTC) if record.updated_at else EPOCH
    return {"id": ident, "floating_ip_address": record.address,
            "floating_network_id": network_id,
            "port_id": port_id_of(record.instance_id) if record.instance_id else None,
            "fixed_ip_address": record.fixed_ip, "router_id": router_id,
            "status": "ACTIVE" if record.instance_id else "DOWN",
            **_owned(record.project_id or "", moment,
                     revision_number=record.revision_number)}
