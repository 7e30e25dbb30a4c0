"""Ports, read from today's model: an instance holding a fixed IP has one port on that
address's network, owned by the instance's project (on a shared network, not the
network's). A port has no row of its own yet: its id is derived from its
instance's (`port_id_of`), so it is the same on every read, and it names the instance
(``device_id``) that floating IPs are associated with.

The network tables know the address, the MAC and the network, not the instance's host
or zone: ``device_owner`` is ``compute:nova`` and the port is ``ACTIVE`` as long as the
address is held (it is taken when the instance is placed and given back on delete).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from labs.common.db import Database
from labs.network import models
from labs.network.topology import ID_NAMESPACE

Fixed, Net = models.FixedIp, models.Network


def port_id_of(instance_id: str) -> str:
    """The id of an instance's port, stable across reads and restarts."""
    return str(uuid.uuid5(ID_NAMESPACE, f"port:{instance_id}"))


@dataclass(frozen=True)
class PortRecord:
    """An instance's place on its project's network."""

    instance_id: str
    project_id: str
    network_id: str
    address: str
    mac: str
    #: The network's: an address has no date of its own.
    created_at: datetime
    subnet_id: str = ""

    @property
    def id(self) -> str:
        return port_id_of(self.instance_id)


class Ports:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self, project_id: str | None, *, every_project: bool = False
             ) -> list[PortRecord]:
        """The ports of `project_id`'s instances (none without a project), or with
        `every_project` every project's."""
        query = (sa.select(Fixed, Net).join(Net, Net.id == Fixed.network_id)
                 .where(Fixed.instance_id.is_not(None)).order_by(Fixed.id))
        if not every_project:
            query = query.where(Fixed.project_id == (project_id or ""))
        with self.db.reading() as tx:
            rows = [(fixed, net) for fixed, net in tx.execute(query)]
        return [_record(fixed, net) for fixed, net in rows]

    def find(self, project_id: str | None, port_id: str) -> PortRecord | None:
        """`project_id`'s port `port_id` (None if it has none such)."""
        return next((p for p in self.list(project_id) if p.id == port_id), None)


def _record(fixed: models.FixedIp, net: models.Network) -> PortRecord:
    assert fixed.instance_id is not None
    created = net.created_at if net.created_at.tzinfo else net.created_at.replace(tzinfo=UTC)
    return PortRecord(instance_id=fixed.instance_id,
                      project_id=fixed.project_id or net.project_id,
                      network_id=net.id, address=fixed.address, mac=fixed.mac or "",
                      created_at=created, subnet_id=fixed.subnet_id)
