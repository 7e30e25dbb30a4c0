"""What an instance's host learns of the router its subnet is on (`RouterPart`, in the
``network`` part of its build spec): only user routers. A network's own auto router
(its uplink address, see `routers.make_auto`) is no router for the host: the network
keeps leaving by its own uplink. Neither is any router that is some joined network's
auto router (its address is that network's uplink's).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.network import models
from labs.network.instance_spec import RouterPart
from labs.network.routers import auto_router_id

Fixed, Float, Sub = models.FixedIp, models.FloatingIp, models.Subnet
Router, Interface = models.Router, models.RouterInterface


def router_parts(tx: Session, instance_ids: list[str]
                 ) -> dict[tuple[str, str], RouterPart]:
    """(instance id, network id) -> the user router the subnet of that NIC of the
    instance is on (NICs on none are left out), read in `tx`."""
    if not instance_ids:
        return {}
    on = {(iid or "", nid): rid for iid, nid, rid in tx.execute(
        sa.select(Fixed.instance_id, Fixed.network_id, Interface.router_id)
        .join(Interface, Interface.subnet_id == Fixed.subnet_id)
        .where(Fixed.instance_id.in_(instance_ids)))}
    parts = {router_id: router_part(tx, router_id) for router_id in set(on.values())}
    return {nic: part for nic, rid in on.items() if (part := parts[rid]) is not None}


def router_part(tx: Session, router_id: str) -> RouterPart | None:
    """The router as a host builds it (None: gone, or an auto router)."""
    row = tx.get(Router, router_id)
    if row is None:
        return None
    joined = [(nid, sid, cidr) for nid, sid, cidr in tx.execute(
        sa.select(Interface.network_id, Interface.subnet_id, Sub.cidr)
        .join(Sub, Sub.id == Interface.subnet_id).where(Interface.router_id == router_id)
        .order_by(Interface.created_at, Interface.id))]
    if any(auto_router_id(network_id) == router_id for network_id, _, _ in joined):
        return None
    subnets = [subnet_id for _, subnet_id, _ in joined]
    floating = [(address, fixed) for address, fixed in tx.execute(
        sa.select(Float.address, Float.fixed_ip)
        .join(Fixed, sa.and_(Fixed.instance_id == Float.instance_id,
                             Fixed.address == Float.fixed_ip))
        .where(Fixed.subnet_id.in_(subnets), Float.fixed_ip.is_not(None))
        .order_by(Float.number))] if subnets else []
    return RouterPart(
        id=row.id, external_ip=row.external_ip if row.external_gateway else None,
        networks=tuple((network_id, cidr) for network_id, _, cidr in joined),
        floating=tuple((address, fixed) for address, fixed in floating if fixed))
