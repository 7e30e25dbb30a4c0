"""The networks and subnets the network API shows, read from today's model: each
project's network (one subnet: its range) and the public side (``[network]
floating_range``) as the cloud's external network, owned by the cloud's admin project
and seen by everyone.

Subnets have no rows of their own yet: a subnet's id is derived from its network's
(`subnet_id_of`), so it is the same on every read.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from labs.common.db import Database
from labs.network import models
from labs.network.config import NetworkOptions

#: The namespace of the ids Labs derives (subnets, the external network).
ID_NAMESPACE = uuid.UUID("5f0b8e8c-2d1c-4f63-9a55-6c1d1c3f6a15")
#: The external network is made by the configuration, not by a row: it has no date.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def subnet_id_of(network_id: str) -> str:
    """The id of a network's one subnet, stable across reads and restarts."""
    return str(uuid.uuid5(ID_NAMESPACE, f"subnet:{network_id}"))


@dataclass(frozen=True)
class NetworkRecord:
    """A network with its one subnet: the range, the gateway and the addresses handed
    out (``pool_start``..``pool_end``)."""

    id: str
    name: str
    project_id: str
    cidr: str
    gateway: str
    pool_start: str
    pool_end: str
    external: bool
    created_at: datetime

    @property
    def subnet_id(self) -> str:
        return subnet_id_of(self.id)


def _host_range(cidr: str) -> tuple[list[ipaddress.IPv4Address], str]:
    hosts = list(ipaddress.IPv4Network(cidr).hosts())
    return hosts, str(hosts[0])


class Topology:
    """Who sees which networks: a project its own and the external one; admins all."""

    def __init__(self, db: Database, options: NetworkOptions,
                 external_project_id: str) -> None:
        self.db = db
        self.options = options
        self.external_project_id = external_project_id

    def external(self) -> NetworkRecord:
        """The public side: its pool is the floating IPs' (the lower half of the range
        past the gateway, as `FloatingIps.ensure_pool` fills it)."""
        hosts, gateway = _host_range(self.options.floating_range)
        pool = hosts[1:][: max(1, (len(hosts) - 1) // 2)]
        ident = str(uuid.uuid5(ID_NAMESPACE, f"external:{self.options.floating_range}"))
        return NetworkRecord(id=ident, name=self.options.floating_pool,
                             project_id=self.external_project_id,
                             cidr=self.options.floating_range, gateway=gateway,
                             pool_start=str(pool[0]), pool_end=str(pool[-1]), external=True,
                             created_at=EPOCH)

    def networks(self, project_id: str | None, *,
                 every_project: bool = False) -> list[NetworkRecord]:
        """The external network and `project_id`'s (none without a project), or with
        `every_project` every project's."""
        query = sa.select(models.Network).order_by(models.Network.id)
        if not every_project:
            query = query.where(models.Network.project_id == (project_id or ""))
        with self.db.reading() as tx:
            rows = list(tx.scalars(query))
        return [self.external(), *(self._project_network(row) for row in rows)]

    @staticmethod
    def _project_network(row: models.Network) -> NetworkRecord:
        hosts, _ = _host_range(row.cidr)
        free = [str(ip) for ip in hosts if str(ip) != row.gateway]
        created = row.created_at if row.created_at.tzinfo else \
            row.created_at.replace(tzinfo=UTC)
        return NetworkRecord(id=row.id, name=row.label, project_id=row.project_id,
                             cidr=row.cidr, gateway=row.gateway, pool_start=free[0],
                             pool_end=free[-1], external=False, created_at=created)
