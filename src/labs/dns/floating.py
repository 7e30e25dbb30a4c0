"""PTR records of floating IPs (Designate's ``/v2/reverse/floatingips``).

A project names the floating IPs allocated to it (the network service's, listed by
compute's conductor over the bus: `FloatingIpSource`): the PTR record goes in the
reverse zone that holds the address (the cloud's zone of the floating range, which the
sink keeps), tagged with the floating IP's id (``managed_resource_type``
``ptr:floatingip``) and project (a later holder of the address does not inherit it; the
sink removes it when the address is released). It takes the place of the name the sink
gave the address (the sink adds no name where a project set one). Unsetting removes it;
the sink's name comes back with its next reconciliation.
"""

from __future__ import annotations

import ipaddress
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from labs.common.db import Database
from labs.dns import models
from labs.dns.errors import BadRequest, NotFound
from labs.dns.names import absolute_name, parents
from labs.dns.publisher import Publisher
from labs.dns.recordsets import check_placement
from labs.dns.scope import Caller
from labs.dns.zones import Zones, new_record, new_recordset, utcnow

Z, RS, R = models.Zone, models.RecordSet, models.Record
PTR_TYPE = "ptr:floatingip"
PTR_PLUGIN = "labs-floatingip"


@dataclass(frozen=True)
class FloatingAddress:
    """A floating IP as the network service has it."""

    id: str
    address: str
    project_id: str


class FloatingIpSource(ABC):
    """Where the DNS service learns the floating IPs."""

    @abstractmethod
    def floating_ips(self, project_id: str | None) -> list[FloatingAddress]:
        """Those allocated to `project_id` (to any project when None)."""


class FloatingIpNotFound(NotFound):
    error_type = "not_found"


@dataclass(frozen=True)
class FloatingPtr:
    """A floating IP and its PTR record (None where unset)."""

    region: str
    fip: FloatingAddress
    ptrdname: str | None = None
    ttl: int | None = None
    description: str | None = None
    status: str = "ACTIVE"
    action: str = "NONE"


def reverse_name(address: str) -> str:
    return ipaddress.ip_address(address).reverse_pointer + "."


class FloatingPtrs:
    def __init__(self, db: Database, zones: Zones, publisher: Publisher, region: str,
                 source: FloatingIpSource | None = None) -> None:
        self.db = db
        self.zones = zones
        self.publisher = publisher
        self.region = region
        self.source = source

    def _source(self) -> FloatingIpSource:
        if self.source is None:
            raise BadRequest("This DNS service does not know the cloud's floating IPs")
        return self.source

    def _of(self, caller: Caller, ident: str) -> FloatingAddress:
        region, _, fip_id = ident.partition(":")
        project = None if caller.all_projects else caller.owning_project()
        if region == self.region and fip_id:
            for fip in self._source().floating_ips(project):
                if fip.id == fip_id:
                    return fip
        raise FloatingIpNotFound(f"Floating IP {ident} could not be found")

    def _shown(self, fips: list[FloatingAddress]) -> list[FloatingPtr]:
        ids = [f.id for f in fips]
        projects = {f.id: f.project_id for f in fips}
        found: dict[str, tuple[str, int | None, str | None, str, str]] = {}
        with self.db.reading() as tx:
            for fip_id, tenant, data, ttl, description, status, action in tx.execute(
                    sa.select(R.managed_resource_id, R.managed_tenant_id, R.data, RS.ttl,
                              RS.description, RS.status, RS.action)
                    .join(RS, RS.id == R.recordset_id)
                    .where(R.managed_resource_type == PTR_TYPE,
                           R.managed_resource_id.in_(ids))):
                if tenant == projects.get(str(fip_id)):  # not a former holder's
                    found[str(fip_id)] = (data, ttl, description, status, action)
        out = []
        for fip in fips:
            if fip.id in found:
                data, ttl, description, status, action = found[fip.id]
                out.append(FloatingPtr(self.region, fip, data, ttl, description,
                                       status, action))
            else:
                out.append(FloatingPtr(self.region, fip))
        return out

    def list(self, caller: Caller) -> list[FloatingPtr]:
        project = None if caller.all_projects else caller.owning_project()
        return self._shown(self._source().floating_ips(project))

    def get(self, caller: Caller, ident: str) -> FloatingPtr:
        return self._shown([self._of(caller, ident)])[0]

    def set(self, caller: Caller, ident: str, fields: dict[str, Any]) -> FloatingPtr:
        """Set (``ptrdname`` a name) or unset (``ptrdname`` null) the PTR record."""
        fip = self._of(caller, ident)
        ptrdname = fields.get("ptrdname")
        if ptrdname is not None:
            ptrdname = absolute_name(ptrdname, "ptrdname")
        name = reverse_name(fip.address)
        with self.db.transaction() as tx:
            zone = tx.scalars(sa.select(Z).where(Z.name.in_(parents(name)))
                              .order_by(sa.func.length(Z.name).desc())
                              .with_for_update()).first()
            if zone is None or zone.action == "DELETE":
                raise BadRequest(f"No reverse zone holds {fip.address}")
            tx.execute(sa.delete(R).where(R.managed_resource_type == PTR_TYPE,
                                          R.managed_resource_id == fip.id))
            recordset = tx.scalars(sa.select(RS).where(
                RS.zone_id == zone.id, RS.name == name, RS.type == "PTR")).first()
            if ptrdname is not None:
                if recordset is None:
                    check_placement(tx, zone, name, "PTR")
                    recordset = new_recordset(zone, name, "PTR")
                    tx.add(recordset)
                    tx.flush()
                else:  # the sink's name of the address gives way
                    tx.execute(sa.delete(R).where(R.recordset_id == recordset.id))
                tx.add(new_record(recordset, ptrdname, managed_resource_id=fip.id,
                                  managed_resource_type=PTR_TYPE,
                                  managed_plugin_name=PTR_PLUGIN,
                                  managed_tenant_id=fip.project_id))
                recordset.ttl = fields.get("ttl", recordset.ttl)
                recordset.description = fields.get("description", recordset.description)
                recordset.status, recordset.action = "PENDING", "UPDATE"
                recordset.updated_at = utcnow()
            elif recordset is not None:
                tx.flush()
                tx.execute(sa.delete(RS).where(RS.id == recordset.id,
                                               ~sa.exists().where(R.recordset_id == RS.id)))
            self.zones.touch(tx, zone)
        self.publisher.publish(zone.id)
        return self._shown([fip])[0]

    def forget(self, fip_id: str) -> None:
        """Remove the PTR record set for a floating IP that was released."""
        with self.db.transaction() as tx:
            found = tx.execute(sa.select(R.id, R.recordset_id, R.zone_id).where(
                R.managed_resource_type == PTR_TYPE, R.managed_resource_id == fip_id)).all()
            if not found:
                return
            zone = tx.scalars(sa.select(Z).where(Z.id == found[0].zone_id)
                              .with_for_update()).one()
            tx.execute(sa.delete(R).where(R.id.in_([f.id for f in found])))
            tx.execute(sa.delete(RS).where(RS.id.in_([f.recordset_id for f in found]),
                                           ~sa.exists().where(R.recordset_id == RS.id)))
            self.zones.touch(tx, zone)
        self.publisher.publish(zone.id)
