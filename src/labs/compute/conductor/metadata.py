"""Who is asking the metadata service: the conductor finds the instance behind a
(network, fixed IP) pair (the network service says who holds the address) and answers
the agents' metadata services over the bus (labs.compute.agent.metadata)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from labs.common.names import dns_label
from labs.compute import models
from labs.network.service import NetworkService


def find_instance_metadata(tx: Session, network: NetworkService, network_id: str,
                           fixed_ip: str) -> dict[str, Any] | None:
    """The metadata of the live instance holding `fixed_ip` on `network_id`, as JSON."""
    held = network.fixed_ips.held_at(tx, network_id, fixed_ip)
    row = tx.get(models.Instance, held[0]) if held is not None else None
    if held is None or row is None or row.deleted:
        return None
    fixed = held[1]
    floating = network.floating_ips.of_instances(tx, [row.id]).get(row.id, [])
    return {
        "uuid": row.id, "name": row.name, "hostname": row.hostname,
        "project_id": row.project_id, "project_name": dns_label(row.project_name or ""),
        "dns_domain": network.options.dns_domain, "network_id": fixed.network_id,
        "cidr": fixed.cidr, "gateway": fixed.gateway, "fixed_ip": fixed.address,
        "mac": fixed.mac, "port_id": row.id,
        "floating_ip": floating[0].address if floating else None,
        "availability_zone": row.availability_zone or "nova",
        "launch_index": row.launch_index,
        "public_keys": {row.key_name: row.key_data} if row.key_name and row.key_data else {},
        "user_data": row.user_data, "metadata": dict(row.metadata_ or {}),
        "image_id": row.image_ref, "flavor_name": (row.flavor or {}).get("name", ""),
        "security_groups": list(row.security_groups or ["default"]),
        "reservation_id": row.reservation_id,
    }
