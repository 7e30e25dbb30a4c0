"""Ports, as their rows have them: a port is on one network, owned by a project (on a
shared network, not necessarily the network's), holds fixed IPs (`FixedIp` rows naming
it) and may be bound to a device (``device_id``; a server, ``device_owner``
``compute:<zone>``).

The port compute makes for a server that asks only for a network has the id
`port_id_of` the server (the id the API showed before ports had rows), so floating
IPs associated through a server name the same port as before.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.network import models
from labs.network.topology import ID_NAMESPACE, aware

Fixed, Port = models.FixedIp, models.Port
#: Filters that compare one column (the API's name -> the column).
COLUMN_FILTERS = {"id": Port.id, "name": Port.name, "description": Port.description,
                  "network_id": Port.network_id, "mac_address": Port.mac_address,
                  "device_id": Port.device_id, "device_owner": Port.device_owner,
                  "status": Port.status, "project_id": Port.project_id,
                  "tenant_id": Port.project_id, "admin_state_up": Port.admin_state_up,
                  "port_security_enabled": Port.port_security_enabled,
                  "revision_number": Port.revision_number,
                  "binding:host_id": Port.binding_host_id}
#: Which servers compute binds ports to: ``compute:<zone>``.
COMPUTE_OWNER = "compute:"


def port_id_of(instance_id: str) -> str:
    """The id of the port compute makes for an instance, stable across reads and
    restarts."""
    return str(uuid.uuid5(ID_NAMESPACE, f"port:{instance_id}"))


@dataclass(frozen=True)
class PortRecord:
    """A port with its fixed IPs ((subnet id, address), in address order)."""

    id: str
    project_id: str
    network_id: str
    mac: str
    created_at: datetime
    updated_at: datetime
    fixed_ips: tuple[tuple[str, str], ...] = ()
    name: str = ""
    description: str = ""
    device_id: str = ""
    device_owner: str = ""
    admin_state_up: bool = True
    status: str = "DOWN"
    port_security_enabled: bool = True
    security_groups: tuple[str, ...] = ()
    allowed_address_pairs: tuple[Mapping[str, str], ...] = ()
    host: str = ""
    revision_number: int = 0

    @property
    def instance_id(self) -> str | None:
        """The server the port is bound to (None if none)."""
        bound = self.device_owner.startswith(COMPUTE_OWNER) and self.device_id
        return self.device_id if bound else None

    @property
    def address(self) -> str:
        """Its first fixed IP ("" if it has none)."""
        return self.fixed_ips[0][1] if self.fixed_ips else ""

    @property
    def subnet_id(self) -> str:
        return self.fixed_ips[0][0] if self.fixed_ips else ""


def filtered(query: sa.Select[Any], filters: Mapping[str, Sequence[Any]]) -> sa.Select[Any]:
    """``query`` narrowed by the API's filters (``fixed_ips``: ``ip_address=...`` or
    ``subnet_id=...``, a port holding any)."""
    for name, values in filters.items():
        if name in COLUMN_FILTERS:
            query = query.where(COLUMN_FILTERS[name].in_(list(values)))
        elif name == "fixed_ips":
            wanted = [str(v).partition("=") for v in values]
            holders = sa.select(Fixed.port_id).where(Fixed.port_id.is_not(None), sa.or_(
                sa.false(), *[(Fixed.address if key == "ip_address" else Fixed.subnet_id)
                              == value for key, _, value in wanted
                              if key in ("ip_address", "subnet_id")]))
            query = query.where(Port.id.in_(holders))
    return query


class Ports:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self, project_id: str | None, *, every_project: bool = False,
             filters: Mapping[str, Sequence[Any]] | None = None) -> list[PortRecord]:
        """`project_id`'s ports (none without a project), or with `every_project` every
        project's; narrowed by the API's `filters` (see `COLUMN_FILTERS`)."""
        query = filtered(sa.select(Port), filters or {}).order_by(Port.id)
        if not every_project:
            query = query.where(Port.project_id == (project_id or ""))
        with self.db.reading() as tx:
            return records(tx, list(tx.scalars(query)))

    def find(self, project_id: str | None, port_id: str) -> PortRecord | None:
        """`project_id`'s port `port_id` (None if it has none such)."""
        found = self.list(project_id, filters={"id": [port_id]})
        return found[0] if found else None


def records(tx: Session, rows: list[models.Port]) -> list[PortRecord]:
    """The ports' records, with their fixed IPs."""
    held: dict[str, list[tuple[str, str]]] = defaultdict(list)
    ids = [r.id for r in rows]
    for start in range(0, len(ids), 500):
        for fixed in tx.scalars(sa.select(Fixed).where(Fixed.port_id.in_(
                ids[start:start + 500])).order_by(Fixed.number)):
            held[fixed.port_id or ""].append((fixed.subnet_id, fixed.address))
    return [record(r, held[r.id]) for r in rows]


def record(row: models.Port, fixed_ips: Sequence[tuple[str, str]]) -> PortRecord:
    return PortRecord(
        id=row.id, project_id=row.project_id, network_id=row.network_id,
        mac=row.mac_address, created_at=aware(row.created_at),
        updated_at=aware(row.updated_at), fixed_ips=tuple(fixed_ips), name=row.name,
        description=row.description, device_id=row.device_id,
        device_owner=row.device_owner, admin_state_up=row.admin_state_up,
        status=row.status, port_security_enabled=row.port_security_enabled,
        security_groups=tuple(row.security_groups or ()),
        allowed_address_pairs=tuple(row.allowed_address_pairs or ()),
        host=row.binding_host_id, revision_number=row.revision_number)


def ports_plugged(tx: Session, instance_id: str, running: bool,
                  host: str | None = None) -> None:
    """The instance's ports follow it: ACTIVE while it runs (plugged on `host`), DOWN
    while it is stopped."""
    values: dict[str, Any] = {"status": "ACTIVE" if running else "DOWN"}
    if host is not None:
        values["binding_host_id"] = host
    tx.execute(sa.update(Port).where(Port.device_id == instance_id,
                                     Port.device_owner.startswith(COMPUTE_OWNER),
                                     Port.status != values["status"])
               .values(**values, revision_number=Port.revision_number + 1,
                       updated_at=datetime.now(UTC).replace(tzinfo=None)))


def free_ports(tx: Session, port_ids: list[str], at: datetime | None = None) -> None:
    """Delete the ports; their addresses go back to their networks."""
    tx.execute(sa.update(Fixed).where(Fixed.port_id.in_(port_ids))
               .values(instance_id=None, port_id=None, project_id=None, mac=None,
                       released_at=at or datetime.now(UTC).replace(tzinfo=None)))
    tx.execute(sa.delete(Port).where(Port.id.in_(port_ids)))
