"""Projects' routers (Neutron's ``router``) and their interfaces: a router joins the
subnets attached to it, and with a gateway on the external network holds an address of
the public range (the same allocator as the networks' uplinks: `FixedIps.external_ip`)
that its networks leave by and their floating IPs come in on.

A subnet is on one router at most, on its gateway address; the subnets of one router
may not overlap. A router is deleted once it has no interfaces (409 ``RouterInUse``);
a project's default network gets a router of its own when it is made (`make_auto`).
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.common.errors import BadRequest, Conflict
from labs.network import models
from labs.network.errors import (
    IpAddressInUse,
    NoRouterAddressLeft,
    RouterExternalGatewayInUseByFloatingIp,
    RouterInterfaceInUseByFloatingIP,
    RouterInterfaceNotFoundForSubnet,
    RouterInUse,
    RouterNotFound,
)
from labs.network.topology import ID_NAMESPACE, SubnetRecord, aware

if TYPE_CHECKING:
    from labs.network.fixed_ips import FixedIps
    from labs.network.notices import Notices
    from labs.network.quotas import NetworkQuotas

T = TypeVar("T")
Router, Interface = models.Router, models.RouterInterface
Fixed, Float, Sub = models.FixedIp, models.FloatingIp, models.Subnet
#: What a router's update may change directly.
ROUTER_COLUMNS = ("name", "description", "admin_state_up")


def auto_router_id(network_id: str) -> str:
    """The id of the router made for a network with its own way out (its default
    network's, or one that had an uplink before routers)."""
    return str(uuid.uuid5(ID_NAMESPACE, f"router:{network_id}"))


def auto_interface_id(subnet_id: str) -> str:
    """The id of a subnet's interface on its network's auto router."""
    return str(uuid.uuid5(ID_NAMESPACE, f"router-interface:{subnet_id}"))


def count_routers(tx: Session, project_id: str) -> int:
    """The project's routers (its ``router`` quota usage)."""
    return tx.scalar(sa.select(sa.func.count()).select_from(Router)
                     .where(Router.project_id == project_id)) or 0


def gateway_routers(tx: Session, instance_ids: list[str]) -> dict[str, str]:
    """instance id -> the router joining its subnet to the external network (the one
    its floating IPs come in through), read in `tx`."""
    if not instance_ids:
        return {}
    return {instance or "": router for instance, router in tx.execute(
        sa.select(Fixed.instance_id, Router.id)
        .join(Interface, Interface.subnet_id == Fixed.subnet_id)
        .join(Router, Router.id == Interface.router_id)
        .where(Fixed.instance_id.in_(instance_ids), Router.external_gateway.is_(True)))}


@dataclass(frozen=True)
class InterfaceRecord:
    id: str
    router_id: str
    subnet_id: str
    network_id: str


@dataclass(frozen=True)
class RouterRecord:
    id: str
    project_id: str
    name: str
    description: str
    admin_state_up: bool
    status: str
    external_gateway: bool
    external_ip: str | None
    enable_snat: bool
    revision_number: int
    created_at: datetime
    updated_at: datetime
    interfaces: tuple[InterfaceRecord, ...] = ()

    @classmethod
    def of(cls, row: models.Router, interfaces: list[models.RouterInterface]
           ) -> RouterRecord:
        return cls(id=row.id, project_id=row.project_id, name=row.name,
                   description=row.description, admin_state_up=row.admin_state_up,
                   status=row.status, external_gateway=row.external_gateway,
                   external_ip=row.external_ip, enable_snat=row.enable_snat,
                   revision_number=row.revision_number, created_at=aware(row.created_at),
                   updated_at=aware(row.updated_at),
                   interfaces=tuple(InterfaceRecord(i.id, i.router_id, i.subnet_id,
                                                    i.network_id) for i in interfaces))


def make_auto(tx: Session, network: models.Network, subnet: models.Subnet) -> None:
    """A router of `network`'s own, holding its uplink address, with `subnet` on it."""
    router = Router(id=auto_router_id(network.id), project_id=network.project_id,
                    name=f"{network.label}-router", description="", admin_state_up=True,
                    status="ACTIVE", external_gateway=network.external_ip is not None,
                    external_ip=network.external_ip, enable_snat=True, revision_number=0,
                    created_at=network.created_at, updated_at=network.created_at)
    tx.add(router)
    tx.flush()
    tx.add(Interface(id=auto_interface_id(subnet.id), router_id=router.id,
                     subnet_id=subnet.id, network_id=network.id,
                     created_at=network.created_at))


class BadRouterRequest(BadRequest):
    """Neutron's ``BadRequest`` of a router change (its type names no HTTP class)."""

    neutron_type = "BadRequest"


class Routers:
    """`quotas`: the projects' ``router`` limits (Neutron's 409 past them)."""

    def __init__(self, db: Database, fixed_ips: FixedIps, quotas: NetworkQuotas) -> None:
        self.db = db
        self.fixed_ips = fixed_ips
        self.quotas = quotas
        #: where each change is told once committed (None: nowhere)
        self.notices: Notices | None = None

    def visible(self, project_id: str | None, *, every_project: bool = False
                ) -> list[RouterRecord]:
        """`project_id`'s routers, or with `every_project` every project's."""
        query = sa.select(Router).order_by(Router.id)
        if not every_project:
            query = query.where(Router.project_id == (project_id or ""))
        with self.db.reading() as tx:
            rows = list(tx.scalars(query))
            joined: dict[str, list[models.RouterInterface]] = {}
            for row in tx.scalars(sa.select(Interface).where(
                    Interface.router_id.in_([r.id for r in rows]))
                    .order_by(Interface.created_at, Interface.id)):
                joined.setdefault(row.router_id, []).append(row)
        return [RouterRecord.of(row, joined.get(row.id, [])) for row in rows]

    def get(self, router_id: str) -> RouterRecord:
        with self.db.reading() as tx:
            row = tx.get(Router, router_id)
            if row is None:
                raise RouterNotFound(router_id)
            return RouterRecord.of(row, list(tx.scalars(
                sa.select(Interface).where(Interface.router_id == router_id))))

    def create(self, project_id: str, asked: Mapping[str, Any], gateway: bool) -> str:
        """A new router of `project_id` (with a gateway: an address of the public range),
        within its ``router`` quota."""
        self.quotas.ready(project_id)
        return _again(lambda: self._create(project_id, asked, gateway))

    def _create(self, project_id: str, asked: Mapping[str, Any], gateway: bool) -> str:
        with self.db.transaction() as tx:
            # the one place routers are counted against the project's quota
            self.quotas.check_create(tx, project_id, "router")
            moment = _now()
            row = Router(id=str(uuid.uuid4()), project_id=project_id,
                         name=asked.get("name", ""), description=asked.get("description", ""),
                         admin_state_up=bool(asked.get("admin_state_up", True)),
                         status="ACTIVE", external_gateway=False, external_ip=None,
                         enable_snat=True, revision_number=0, created_at=moment,
                         updated_at=moment)
            tx.add(row)
            if gateway:
                self._set_gateway(tx, row, True)
            if self.notices is not None:
                self.notices.router(tx, "create", row)
            return row.id

    def update(self, router_id: str, changes: Mapping[str, Any],
               gateway: bool | None) -> None:
        """Change the router's attributes, and its gateway (None: as it is)."""
        _again(lambda: self._update(router_id, changes, gateway))

    def _update(self, router_id: str, changes: Mapping[str, Any],
                gateway: bool | None) -> None:
        with self.db.transaction() as tx:
            row = self._locked(tx, router_id)
            for key in ROUTER_COLUMNS:
                if key in changes:
                    setattr(row, key, changes[key])
            if gateway is not None and gateway != row.external_gateway:
                self._set_gateway(tx, row, gateway)
            row.revision_number += 1
            row.updated_at = _now()
            if self.notices is not None:
                self.notices.router(tx, "update", row)

    def delete(self, router_id: str) -> None:
        with self.db.transaction() as tx:
            row = self._locked(tx, router_id)
            if tx.scalar(sa.select(Interface.id).where(Interface.router_id == router_id)
                         .limit(1)) is not None:
                raise RouterInUse(router_id)
            if row.external_gateway:
                self._set_gateway(tx, row, False)
            if self.notices is not None:
                self.notices.router(tx, "delete", row)
            tx.delete(row)

    def add_interface(self, router_id: str, subnet: SubnetRecord) -> InterfaceRecord:
        """Join `subnet` to the router, on its gateway address."""
        if subnet.gateway_ip is None:
            raise BadRequest("Bad router request: Subnet for router interface must have a "
                             "gateway IP.")
        return _again(lambda: self._add_interface(router_id, subnet))

    def _add_interface(self, router_id: str, subnet: SubnetRecord) -> InterfaceRecord:
        with self.db.transaction() as tx:
            row = self._locked(tx, router_id)
            if tx.get(Sub, subnet.id) is None:
                raise BadRequest(f"Bad router request: subnet {subnet.id} is gone.")
            on = {i.subnet_id: i for i in tx.scalars(
                sa.select(Interface).where(Interface.subnet_id == subnet.id))}
            if subnet.id in on:
                raise _on_a_router(on[subnet.id].router_id == row.id, subnet)
            _no_overlap(tx, row.id, subnet)
            made = Interface(id=str(uuid.uuid4()), router_id=row.id, subnet_id=subnet.id,
                             network_id=subnet.network_id, created_at=_now())
            tx.add(made)
            row.revision_number += 1
            row.updated_at = _now()
            joined = InterfaceRecord(made.id, row.id, subnet.id, subnet.network_id)
            if self.notices is not None:
                self.notices.router_interface(tx, "create", row, joined)
            return joined

    def remove_interface(self, router_id: str, subnet_id: str) -> InterfaceRecord:
        """Take `subnet_id` off the router (409 while floating IPs come in through it)."""
        with self.db.transaction() as tx:
            row = self._locked(tx, router_id)
            found = tx.scalar(sa.select(Interface).where(Interface.router_id == router_id,
                                                         Interface.subnet_id == subnet_id))
            if found is None:
                raise RouterInterfaceNotFoundForSubnet(router_id, subnet_id)
            if row.external_gateway and _floating_through(tx, [subnet_id]):
                raise RouterInterfaceInUseByFloatingIP(router_id, subnet_id)
            gone = InterfaceRecord(found.id, row.id, subnet_id, found.network_id)
            tx.delete(found)
            row.revision_number += 1
            row.updated_at = _now()
            if self.notices is not None:
                self.notices.router_interface(tx, "delete", row, gone)
            return gone

    # -- what floating IPs ask --------------------------------------------------------
    def gateway_router(self, subnet_id: str) -> str | None:
        """The router joining `subnet_id` to the external network (None: none does)."""
        with self.db.reading() as tx:
            return tx.scalar(sa.select(Router.id).join(Interface,
                                                       Interface.router_id == Router.id)
                             .where(Interface.subnet_id == subnet_id,
                                    Router.external_gateway.is_(True)))

    def of_instances(self, instance_ids: list[str]) -> dict[str, str]:
        """instance id -> the router its floating IPs come in through."""
        with self.db.reading() as tx:
            return gateway_routers(tx, instance_ids)

    # -- inside ------------------------------------------------------------------------
    @staticmethod
    def _locked(tx: Session, router_id: str) -> models.Router:
        row = tx.get(Router, router_id, with_for_update=True)
        if row is None:
            raise RouterNotFound(router_id)
        return row

    def _set_gateway(self, tx: Session, row: models.Router, on: bool) -> None:
        if on:
            address = self.fixed_ips.external_ip(tx)
            if address is None:
                raise NoRouterAddressLeft(row.id)
            row.external_gateway, row.external_ip = True, address
            tx.flush()  # the address is taken (unique) before the transaction ends
            return
        subnets = list(tx.scalars(sa.select(Interface.subnet_id)
                                  .where(Interface.router_id == row.id)))
        if _floating_through(tx, subnets):
            raise RouterExternalGatewayInUseByFloatingIp(row.id)
        row.external_gateway, row.external_ip = False, None


def _on_a_router(same: bool, subnet: SubnetRecord) -> Exception:
    if same:
        return BadRouterRequest(f"Bad router request: Router already has a port on "
                                f"subnet {subnet.id}.")
    return IpAddressInUse(subnet.network_id, subnet.gateway_ip or "")


def _no_overlap(tx: Session, router_id: str, subnet: SubnetRecord) -> None:
    """Neutron's 400 when `subnet` overlaps a subnet already on the router."""
    new = ipaddress.IPv4Network(subnet.cidr)
    for other in tx.scalars(sa.select(Sub).join(Interface, Interface.subnet_id == Sub.id)
                            .where(Interface.router_id == router_id)):
        if ipaddress.IPv4Network(other.cidr).overlaps(new):
            raise BadRouterRequest(f"Bad router request: Cidr {subnet.cidr} of subnet "
                                   f"{subnet.id} overlaps with cidr {other.cidr} of subnet "
                                   f"{other.id}.")


def _floating_through(tx: Session, subnet_ids: list[str]) -> bool:
    """Whether a floating IP is associated with an address of these subnets."""
    if not subnet_ids:
        return False
    return tx.scalar(sa.select(Float.id).join(Fixed, Fixed.instance_id == Float.instance_id)
                     .where(Fixed.subnet_id.in_(subnet_ids)).limit(1)) is not None


def _again(attempt: Callable[[], T]) -> T:
    """`attempt`, again when a parallel change took the same address or subnet first (a
    unique key; the next attempt sees what it took)."""
    for _ in range(4):
        try:
            return attempt()
        except IntegrityError:
            continue
    try:
        return attempt()
    except IntegrityError:
        raise Conflict("Too many concurrent changes of routers; try again.") from None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
