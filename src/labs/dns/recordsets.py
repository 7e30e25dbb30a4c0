"""Recordsets: all records of one name and type in a zone.

The rules are Designate's: a recordset's name lies in its zone (and not in one of the
zone's sub-zones); a CNAME stands alone at its name, holds one record and never sits at
the apex; one recordset per name and type; SOA and the apex NS are the service's own;
records the cloud made for its VMs change only with ``edit_managed``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.dns import models
from labs.dns.errors import (
    BadRequest,
    DuplicateRecordSet,
    InvalidObject,
    InvalidRecordSetLocation,
    RecordSetNotFound,
)
from labs.dns.listing import Listing, Page, matching, page
from labs.dns.names import absolute_name, between, in_zone
from labs.dns.publisher import Publisher
from labs.dns.quotas import Quotas
from labs.dns.rdata import USER_TYPES, check_records
from labs.dns.scope import Caller
from labs.dns.shares import zone_for_recordsets
from labs.dns.zones import Zones, find_zone, new_record, new_recordset, utcnow, writable_zone

Z, RS, R = models.Zone, models.RecordSet, models.Record
RECORDSET_FILTERS = ("name", "type", "ttl", "data", "status", "description")
RECORDSET_SORT_KEYS = ("created_at", "id", "updated_at", "zone_id", "tenant_id", "name",
                       "type", "ttl")


@dataclass
class RecordSetView:
    """A recordset with its zone's name and its records, as the API shows it."""

    row: models.RecordSet
    zone_name: str
    records: list[str] = field(default_factory=list)
    status: str | None = None
    action: str | None = None


def records_of(tx: Session, recordset_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    if recordset_ids:
        for rs_id, data in tx.execute(sa.select(R.recordset_id, R.data)
                                      .where(R.recordset_id.in_(recordset_ids))
                                      .order_by(R.data)):
            out[rs_id].append(data)
    return out


def check_placement(tx: Session, zone: models.Zone, name: str, type_: str,
                    recordset_id: str | None = None) -> None:
    """Where a recordset may be: in the zone, not in a sub-zone; CNAMEs alone."""
    if not in_zone(name, zone.name):
        raise InvalidRecordSetLocation(f"RecordSet {name} is not contained within its parent "
                                       f"zone {zone.name}")
    child = tx.scalars(sa.select(Z.name).where(Z.name.in_(between(name, zone.name)))).first()
    if child is not None:
        raise InvalidRecordSetLocation(f"RecordSet belongs in a child zone: {child}")
    if type_ == "CNAME" and name == zone.name:
        raise InvalidRecordSetLocation("CNAME recordsets may not be created at the zone apex")
    others = sa.select(RS.id).where(RS.zone_id == zone.id, RS.name == name)
    if type_ != "CNAME":
        others = others.where(RS.type == "CNAME")
    if recordset_id is not None:
        others = others.where(RS.id != recordset_id)
    if tx.scalars(others).first() is not None:
        raise InvalidRecordSetLocation("CNAME recordsets may not share a name with any other "
                                       "records")


def user_records(type_: str, records: list[str]) -> list[str]:
    data = check_records(type_, records)
    if type_ == "CNAME" and len(data) > 1:
        raise BadRequest("CNAME recordsets may not have more than 1 record")
    return data


class RecordSets:
    def __init__(self, db: Database, zones: Zones, publisher: Publisher,
                 quotas: Quotas) -> None:
        self.db = db
        self.zones = zones
        self.publisher = publisher
        self.quotas = quotas

    def _check_quota(self, tx: Session, zone: models.Zone, *, new_recordset: bool,
                     records: int, added: int) -> None:
        wanted: dict[str, int] = {"recordset_records": records}
        if new_recordset:
            count = tx.scalar(sa.select(sa.func.count()).select_from(RS)
                              .where(RS.zone_id == zone.id))
            wanted["zone_recordsets"] = int(count or 0) + 1
        if added:
            count = tx.scalar(sa.select(sa.func.count()).select_from(R)
                              .where(R.zone_id == zone.id, R.managed.is_(False)))
            wanted["zone_records"] = int(count or 0) + added
        self.quotas.check(tx, zone.project_id, **wanted)

    def create(self, caller: Caller, zone_id: str, fields: dict[str, Any]) -> RecordSetView:
        type_ = fields["type"].upper()
        if type_ == "SOA":
            raise BadRequest("Creating a SOA recordset is not allowed")
        if type_ not in USER_TYPES:
            message = f"'{fields['type']}' is not one of {list(USER_TYPES)}"
            raise InvalidObject(message, [{"path": ["type"], "message": message,
                                           "validator": "enum",
                                           "validator_value": list(USER_TYPES)}])
        name = absolute_name(fields["name"], wildcard=True)
        if type_ == "SRV" and not all(label.startswith("_") for label in name.split(".")[:2]):
            raise InvalidObject(f"{name} is not a valid SRV name: it starts with "
                                "_service._protocol", [{"path": ["name"], "validator": "format",
                                                        "validator_value": "srvname",
                                                        "message": f"{name!r} is not a "
                                                        "'srvname'"}])
        data = user_records(type_, fields["records"])
        try:
            with self.db.transaction() as tx:
                zone = zone_for_recordsets(tx, caller, zone_id)
                check_placement(tx, zone, name, type_)
                self._check_quota(tx, zone, new_recordset=True, records=len(data),
                                  added=len(data))
                row = new_recordset(zone, name, type_, fields.get("ttl"),
                                    fields.get("description"))
                if caller.project_id and caller.project_id != zone.project_id \
                        and not caller.all_projects:
                    row.project_id = caller.project_id  # a project the zone is shared with
                tx.add(row)
                tx.flush()
                tx.add_all(new_record(row, value) for value in data)
                self.zones.touch(tx, zone)
                tx.flush()
        except IntegrityError:
            raise DuplicateRecordSet("Duplicate RecordSet") from None
        self.publisher.publish(zone.id)
        return RecordSetView(row, zone.name, sorted(data))

    def _find(self, tx: Session, caller: Caller, zone_id: str | None, recordset_id: str,
              ) -> tuple[models.Zone, models.RecordSet]:
        query = (sa.select(RS, Z).join(Z, Z.id == RS.zone_id)
                 .where(RS.id == recordset_id, caller.sees(Z.project_id)))
        if zone_id is not None:
            query = query.where(RS.zone_id == zone_id)
        found = tx.execute(query).first()
        if found is None:
            if zone_id is not None:
                find_zone(tx, caller, zone_id)  # 404 for the zone first
            raise RecordSetNotFound("Could not find RecordSet")
        return found[1], found[0]

    def get(self, caller: Caller, zone_id: str | None, recordset_id: str) -> RecordSetView:
        with self.db.reading() as tx:
            zone, row = self._find(tx, caller, zone_id, recordset_id)
            return RecordSetView(row, zone.name, records_of(tx, [row.id])[row.id])

    def find(self, caller: Caller, zone_id: str | None, listing: Listing
             ) -> tuple[Page, list[RecordSetView]]:
        query = sa.select(RS).join(Z, Z.id == RS.zone_id).where(caller.sees(Z.project_id))
        with self.db.reading() as tx:
            if zone_id is not None:
                find_zone(tx, caller, zone_id)
                query = query.where(RS.zone_id == zone_id)
            for key, value in listing.filters.items():
                if key == "ttl":
                    query = query.where(RS.ttl == int(value))
                elif key == "data":
                    query = query.where(RS.id.in_(sa.select(R.recordset_id)
                                                  .where(matching(R.data, value))))
                else:
                    value = value.upper() if key == "type" else value
                    query = query.where(matching(getattr(RS, key),
                                                 value.lower() if key == "name" else value))
            sort = "project_id" if listing.sort_key == "tenant_id" else listing.sort_key
            found = page(tx, query, RS, Listing(listing.filters, listing.limit,
                                                listing.marker, sort, listing.sort_dir))
            records = records_of(tx, [rs.id for rs in found.rows])
            names: dict[str, str] = {zone_id: name for zone_id, name in tx.execute(
                sa.select(Z.id, Z.name).where(Z.id.in_({rs.zone_id for rs in found.rows})))}
        return found, [RecordSetView(rs, names[rs.zone_id], records[rs.id])
                       for rs in found.rows]

    def _changeable(self, tx: Session, caller: Caller, zone: models.Zone,
                    row: models.RecordSet, verb: str) -> None:
        if row.type == "SOA":
            raise BadRequest(f"{verb.capitalize()} SOA recordsets is not allowed")
        if row.type == "NS" and row.name == zone.name:
            raise BadRequest(f"{verb.capitalize()} a root zone NS record is not allowed")
        managed = tx.scalars(sa.select(R.id).where(R.recordset_id == row.id,
                                                   R.managed.is_(True))).first()
        if managed is not None and not caller.edit_managed:
            what = "updated" if verb == "updating" else "deleted"
            raise BadRequest(f"Managed records may not be {what}")

    def update(self, caller: Caller, zone_id: str, recordset_id: str,
               fields: dict[str, Any]) -> RecordSetView:
        """Replace the records, TTL or description; records kept keep their tags."""
        with self.db.transaction() as tx:
            zone = writable_zone(tx, caller, zone_id)
            zone, row = self._find(tx, caller, zone_id, recordset_id)
            self._changeable(tx, caller, zone, row, "updating")
            current = {r.data: r for r in tx.scalars(sa.select(R).where(
                R.recordset_id == row.id))}
            if "records" in fields:
                wanted = user_records(row.type, fields["records"])
                added = [d for d in wanted if d not in current]
                self._check_quota(tx, zone, new_recordset=False, records=len(wanted),
                                  added=len(added) - sum(1 for d in current
                                                         if d not in wanted))
                for data, record in current.items():
                    if data not in wanted:
                        tx.delete(record)
                tx.add_all(new_record(row, data) for data in added)
                records = wanted
            else:
                records = list(current)
            for key in ("ttl", "description"):
                if key in fields:
                    setattr(row, key, fields[key])
            row.status, row.action = "PENDING", "UPDATE"
            row.version += 1
            row.updated_at = utcnow()
            self.zones.touch(tx, zone)
        self.publisher.publish(zone.id)
        return RecordSetView(row, zone.name, sorted(records))

    def delete(self, caller: Caller, zone_id: str, recordset_id: str) -> RecordSetView:
        with self.db.transaction() as tx:
            zone = writable_zone(tx, caller, zone_id)
            zone, row = self._find(tx, caller, zone_id, recordset_id)
            self._changeable(tx, caller, zone, row, "deleting")
            records = records_of(tx, [row.id])[row.id]
            tx.execute(sa.delete(RS).where(RS.id == row.id))
            self.zones.touch(tx, zone)
        self.publisher.publish(zone.id)
        return RecordSetView(row, zone.name, records, status="PENDING", action="DELETE")
