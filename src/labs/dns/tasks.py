"""Zone exports and imports (Designate's ``/v2/zones/tasks/exports`` and ``imports``).

An export is made at once (COMPLETE, or ERROR when the zone has more recordsets than the
project's ``api_export_size``); its zone file is rendered from the zone as it is when
fetched, as Designate does for its ``designate://`` locations. An import reads a zone
file and makes the zone with its recordsets in the caller's project in one transaction
(quotas checked), COMPLETE; a file that cannot be read, or a zone that cannot be made,
leaves the import in ERROR with the reason and nothing else written.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.dns import models
from labs.dns.errors import DnsError, InvalidObject, NotFound
from labs.dns.listing import Listing, Page, page
from labs.dns.names import absolute_name
from labs.dns.quotas import Quotas
from labs.dns.recordsets import check_placement, records_of, user_records
from labs.dns.scope import Caller
from labs.dns.zonefile import ParsedZone, parse, render
from labs.dns.zones import Zones, find_zone, new_record, new_recordset, utcnow

Z, RS = models.Zone, models.RecordSet
EXPORT, IMPORT = models.ZoneExport, models.ZoneImport
TASK_FILTERS = ("status", "message", "zone_id")
TASK_SORT_KEYS = ("created_at", "id", "updated_at", "status")


class ZoneExportNotFound(NotFound):
    error_type = "zone_export_not_found"


class ZoneImportNotFound(NotFound):
    error_type = "zone_import_not_found"


def _find(tx: Session, model: Any, caller: Caller, task_id: str, missing: type[NotFound]
          ) -> Any:
    row = tx.scalars(sa.select(model).where(model.id == task_id,
                                            caller.sees(model.project_id))).first()
    if row is None:
        raise missing(f"Could not find {model.__name__}")
    return row


def _page(tx: Session, model: Any, caller: Caller, listing: Listing) -> Page:
    query = sa.select(model).where(caller.sees(model.project_id))
    for key, value in listing.filters.items():
        query = query.where(getattr(model, key) == value)
    return page(tx, query, model, listing)


class ZoneTasks:
    def __init__(self, db: Database, zones: Zones, quotas: Quotas) -> None:
        self.db = db
        self.zones = zones
        self.quotas = quotas

    # -- exports ---------------------------------------------------------------------
    def export(self, caller: Caller, zone_id: str) -> models.ZoneExport:
        with self.db.transaction() as tx:
            zone = find_zone(tx, caller, zone_id)
            count = int(tx.scalar(sa.select(sa.func.count()).select_from(RS)
                                  .where(RS.zone_id == zone.id)) or 0)
            limit = self.quotas.limits(tx, zone.project_id)["api_export_size"]
            too_big = 0 <= limit < count
            row = EXPORT(id=str(uuid.uuid4()), project_id=zone.project_id, zone_id=zone.id,
                         status="ERROR" if too_big else "COMPLETE",
                         message=(f"Zone is too large to export ({count} recordsets, the "
                                  f"limit is {limit})") if too_big else None,
                         version=1, created_at=utcnow(), updated_at=None)
            tx.add(row)
        return row

    def get_export(self, caller: Caller, export_id: str) -> models.ZoneExport:
        with self.db.reading() as tx:
            row: models.ZoneExport = _find(tx, EXPORT, caller, export_id, ZoneExportNotFound)
            return row

    def find_exports(self, caller: Caller, listing: Listing) -> Page:
        with self.db.reading() as tx:
            return _page(tx, EXPORT, caller, listing)

    def delete_export(self, caller: Caller, export_id: str) -> None:
        with self.db.transaction() as tx:
            tx.delete(_find(tx, EXPORT, caller, export_id, ZoneExportNotFound))

    def zone_file(self, caller: Caller, export_id: str) -> str:
        """The export's zone file, of the zone as it is now."""
        with self.db.reading() as tx:
            row = _find(tx, EXPORT, caller, export_id, ZoneExportNotFound)
            if row.status != "COMPLETE" or row.zone_id is None:
                raise ZoneExportNotFound("The export did not complete: there is no file")
            zone = tx.get(Z, row.zone_id)
            if zone is None or zone.project_id != row.project_id:
                raise ZoneExportNotFound("The exported zone is gone")
            sets = list(tx.scalars(sa.select(RS).where(RS.zone_id == zone.id)
                                   .order_by(RS.name, RS.type)))
            records = records_of(tx, [rs.id for rs in sets])
            return render(zone.name, zone.ttl, [(rs.name, rs.type, rs.ttl, records[rs.id])
                                                for rs in sets if records[rs.id]])

    # -- imports ---------------------------------------------------------------------
    def import_zone(self, caller: Caller, text: bytes) -> models.ZoneImport:
        """Make the zone of a zone file; the import says how it went."""
        project_id = caller.owning_project()
        row = IMPORT(id=str(uuid.uuid4()), project_id=project_id, zone_id=None,
                     status="PENDING", message=None, version=1, created_at=utcnow(),
                     updated_at=None)
        try:
            parsed = parse(text)
            zone = self.zones.create(caller, {"name": parsed.name, "email": parsed.email,
                                              "ttl": parsed.ttl},
                                     fill=lambda tx, z: self._fill(tx, z, parsed))
        except DnsError as exc:
            if exc.code >= 500:
                raise
            row.status, row.message = "ERROR", exc.message[:255]
        else:
            row.status, row.message, row.zone_id = "COMPLETE", "imported", zone.id
        row.version, row.updated_at = 2, utcnow()
        with self.db.transaction() as tx:
            tx.add(row)
        return row

    def _fill(self, tx: Session, zone: models.Zone, parsed: ParsedZone) -> None:
        total = sum(len(records) for _, _, _, records in parsed.recordsets)
        most = max((len(records) for _, _, _, records in parsed.recordsets), default=0)
        self.quotas.check(tx, zone.project_id, zone_recordsets=len(parsed.recordsets) + 2,
                          zone_records=total, recordset_records=most)
        for name, type_, ttl, records in parsed.recordsets:
            try:
                name = absolute_name(name, wildcard=True)
                data = user_records(type_, records)
            except InvalidObject as exc:
                raise InvalidObject(f"{name} {type_}: {exc.message}") from None
            check_placement(tx, zone, name, type_)
            recordset = new_recordset(zone, name, type_, ttl)
            tx.add(recordset)
            tx.flush()
            tx.add_all(new_record(recordset, value) for value in data)

    def get_import(self, caller: Caller, import_id: str) -> models.ZoneImport:
        with self.db.reading() as tx:
            row: models.ZoneImport = _find(tx, IMPORT, caller, import_id, ZoneImportNotFound)
            return row

    def find_imports(self, caller: Caller, listing: Listing) -> Page:
        with self.db.reading() as tx:
            return _page(tx, IMPORT, caller, listing)

    def delete_import(self, caller: Caller, import_id: str) -> None:
        with self.db.transaction() as tx:
            tx.delete(_find(tx, IMPORT, caller, import_id, ZoneImportNotFound))
