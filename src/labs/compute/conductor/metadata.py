"""Who is asking the metadata service: the conductor finds the instance behind a
(network, fixed IP) pair in the database; agents, which have no database, ask it over the
bus (`ConductorMetadataSource`)."""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.bus import BusError
from labs.common.names import dns_label
from labs.compute import models
from labs.compute.rpcapi import ConductorAPI
from labs.network import models as net_models
from labs.network.agent.metadata.source import InstanceMetadata, MetadataSource
from labs.network.service import NetworkService
from labs.network.specs import InvalidRequest

log = logging.getLogger("labs.compute.metadata")
Inst, Fixed, Net = models.Instance, net_models.FixedIp, net_models.Network


def find_instance_metadata(tx: Session, network: NetworkService, network_id: str,
                           fixed_ip: str) -> dict[str, Any] | None:
    """The metadata of the live instance holding `fixed_ip` on `network_id`, as JSON."""
    found = tx.execute(sa.select(Inst, Fixed, Net).join(Fixed, Fixed.instance_id == Inst.id)
                       .join(Net, Net.id == Fixed.network_id)
                       .where(Fixed.network_id == network_id, Fixed.address == fixed_ip,
                              Inst.deleted.is_(False))).first()
    if found is None:
        return None
    row, fixed, net = found
    floating = network.floating_ips.of_instances(tx, [row.id]).get(row.id, [])
    return {
        "uuid": row.id, "name": row.name, "hostname": row.hostname,
        "project_id": row.project_id, "project_name": dns_label(row.project_name or ""),
        "dns_domain": network.options.dns_domain, "network_id": net.id, "cidr": net.cidr,
        "gateway": net.gateway, "fixed_ip": fixed.address, "mac": fixed.mac or "",
        "port_id": row.id, "floating_ip": floating[0].address if floating else None,
        "availability_zone": row.availability_zone or "nova",
        "launch_index": row.launch_index,
        "public_keys": {row.key_name: row.key_data} if row.key_name and row.key_data else {},
        "user_data": row.user_data, "metadata": dict(row.metadata_ or {}),
        "image_id": row.image_ref, "flavor_name": (row.flavor or {}).get("name", ""),
        "security_groups": list(row.security_groups or ["default"]),
        "reservation_id": row.reservation_id,
    }


class ConductorMetadataSource(MetadataSource):
    """Asks the conductor, over the bus, for each request."""

    def __init__(self, conductor: ConductorAPI, timeout: float = 5.0) -> None:
        self.conductor = conductor
        self.timeout = timeout

    def instance_for(self, network_id: str, fixed_ip: str) -> InstanceMetadata | None:
        try:
            found = self.conductor.instance_metadata(network_id, fixed_ip, self.timeout)
        except BusError as exc:
            log.warning("metadata for %s on %s: the conductor did not answer: %s",
                        fixed_ip, network_id, exc)
            raise
        if found is None:
            return None
        user_data = found.pop("user_data", None)
        try:
            raw = base64.b64decode(user_data) if user_data else None
        except (binascii.Error, ValueError):
            raw = None
        found["security_groups"] = tuple(found.get("security_groups") or ("default",))
        try:
            return InstanceMetadata(user_data=raw, **found)
        except InvalidRequest as exc:
            log.warning("metadata for %s on %s is unusable: %s", fixed_ip, network_id, exc)
            return None
