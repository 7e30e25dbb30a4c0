"""The networks and subnets the network API shows: the projects' networks and subnets
(rows), and the public side (``[network] floating_range``) as the cloud's external
network, owned by the cloud's admin project and seen by everyone.

A network made before subnets had rows kept its subnet's id: derived from the
network's (`subnet_id_of`); the default network of a project is made with that id too.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from labs.common.db import Database
from labs.network import models
from labs.network.config import NetworkOptions

#: The namespace of the ids Labs derives (subnets, the external network).
ID_NAMESPACE = uuid.UUID("5f0b8e8c-2d1c-4f63-9a55-6c1d1c3f6a15")
#: The external network is made by the configuration, not by a row: it has no date.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Net, Sub = models.Network, models.Subnet


def subnet_id_of(network_id: str) -> str:
    """The id of a default network's subnet, stable across reads and restarts."""
    return str(uuid.uuid5(ID_NAMESPACE, f"subnet:{network_id}"))


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SubnetRecord:
    id: str
    network_id: str
    project_id: str
    name: str
    cidr: str
    gateway_ip: str | None
    allocation_pools: list[dict[str, str]]
    enable_dhcp: bool
    created_at: datetime
    updated_at: datetime
    description: str = ""
    dns_nameservers: list[str] = field(default_factory=list)
    host_routes: list[dict[str, str]] = field(default_factory=list)
    revision_number: int = 0

    @classmethod
    def of(cls, row: models.Subnet) -> SubnetRecord:
        return cls(id=row.id, network_id=row.network_id, project_id=row.project_id,
                   name=row.name, cidr=row.cidr, gateway_ip=row.gateway_ip,
                   allocation_pools=list(row.allocation_pools),
                   enable_dhcp=row.enable_dhcp, created_at=aware(row.created_at),
                   updated_at=aware(row.updated_at), description=row.description,
                   dns_nameservers=list(row.dns_nameservers),
                   host_routes=list(row.host_routes), revision_number=row.revision_number)


@dataclass(frozen=True)
class NetworkRecord:
    """A network with its subnets."""

    id: str
    name: str
    project_id: str
    external: bool
    created_at: datetime
    subnets: tuple[SubnetRecord, ...] = ()
    updated_at: datetime = EPOCH
    description: str = ""
    shared: bool = False
    admin_state_up: bool = True
    mtu: int = 1500
    revision_number: int = 0

    @property
    def subnet_ids(self) -> list[str]:
        return [s.id for s in self.subnets]

    @classmethod
    def of(cls, row: models.Network, subnets: list[models.Subnet]) -> NetworkRecord:
        return cls(id=row.id, name=row.label, project_id=row.project_id, external=False,
                   created_at=aware(row.created_at), updated_at=aware(row.updated_at),
                   subnets=tuple(SubnetRecord.of(s) for s in subnets),
                   description=row.description, shared=row.shared,
                   admin_state_up=row.admin_state_up, mtu=row.mtu,
                   revision_number=row.revision_number)


class Topology:
    """Who sees which networks: a project its own, the shared ones and the external one;
    admins all."""

    def __init__(self, db: Database, options: NetworkOptions,
                 external_project_id: str) -> None:
        self.db = db
        self.options = options
        self.external_project_id = external_project_id

    def external(self) -> NetworkRecord:
        """The public side: its pool is the floating IPs' (the lower half of the range
        past the gateway, as `FloatingIps.ensure_pool` fills it)."""
        cidr = self.options.floating_range
        hosts = list(ipaddress.IPv4Network(cidr).hosts())
        pool = hosts[1:][: max(1, (len(hosts) - 1) // 2)]
        ident = str(uuid.uuid5(ID_NAMESPACE, f"external:{cidr}"))
        subnet = SubnetRecord(
            id=subnet_id_of(ident), network_id=ident, project_id=self.external_project_id,
            name=f"{self.options.floating_pool}-subnet", cidr=cidr,
            gateway_ip=str(hosts[0]),
            allocation_pools=[{"start": str(pool[0]), "end": str(pool[-1])}],
            enable_dhcp=False, created_at=EPOCH, updated_at=EPOCH)
        return NetworkRecord(id=ident, name=self.options.floating_pool,
                             project_id=self.external_project_id, external=True,
                             created_at=EPOCH, subnets=(subnet,))

    def networks(self, project_id: str | None, *,
                 every_project: bool = False) -> list[NetworkRecord]:
        """The external network, `project_id`'s and the shared ones (without a
        project: those two), or with `every_project` every project's."""
        query = sa.select(Net).order_by(Net.id)
        if not every_project:
            query = query.where(sa.or_(Net.project_id == (project_id or ""),
                                       Net.shared.is_(True)))
        with self.db.reading() as tx:
            rows = list(tx.scalars(query))
            subnets: dict[str, list[models.Subnet]] = {}
            ids = [row.id for row in rows]
            for sub in tx.scalars(sa.select(Sub).where(Sub.network_id.in_(ids))
                                  .order_by(Sub.created_at, Sub.id)):
                subnets.setdefault(sub.network_id, []).append(sub)
        return [self.external(),
                *(NetworkRecord.of(row, subnets.get(row.id, [])) for row in rows)]

    def subnets(self, project_id: str | None, *,
                every_project: bool = False) -> list[SubnetRecord]:
        """The subnets of the networks `networks` shows."""
        return [s for n in self.networks(project_id, every_project=every_project)
                for s in n.subnets]
