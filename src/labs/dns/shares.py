"""Zone shares (Designate's ``/v2/zones/<id>/shares``, 2023.1): a zone's owner lets
another project create recordsets in it. The target project's recordsets belong to
it; the share cannot be removed while they exist.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.dns import models
from labs.dns.blacklists import utcnow
from labs.dns.errors import (
    BadRequest,
    DuplicateZoneShare,
    SharedZoneHasRecordSets,
    ZoneNotFound,
    ZoneShareNotFound,
)
from labs.dns.listing import Listing, Page, matching, page
from labs.dns.scope import Caller
from labs.dns.zones import find_zone, writable_zone

S, Z = models.ZoneShare, models.Zone
SHARE_FILTERS = ("target_project_id",)
SHARE_SORT_KEYS = ("created_at", "id", "updated_at", "target_project_id")


def zone_for_recordsets(tx: Session, caller: Caller, zone_id: str) -> models.Zone:
    """The zone a recordset is added to, locked: the caller's own, or one shared with
    the caller's project (404 otherwise, as for a zone it cannot see)."""
    try:
        return writable_zone(tx, caller, zone_id)
    except ZoneNotFound:
        if caller.project_id is None or tx.scalars(sa.select(S.id).where(
                S.zone_id == zone_id, S.target_project_id == caller.project_id)).first() is None:
            raise
    return writable_zone(tx, Caller(caller.project_id, all_projects=True), zone_id)


class ZoneShares:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, caller: Caller, zone_id: str, fields: dict[str, Any]) -> models.ZoneShare:
        target = fields["target_project_id"]
        try:
            with self.db.transaction() as tx:
                zone = writable_zone(tx, caller, zone_id)
                if target == zone.project_id:
                    raise BadRequest("Cannot share the zone with the zone owner.")
                row = S(id=str(uuid.uuid4()), zone_id=zone.id, project_id=zone.project_id,
                        target_project_id=target, created_at=utcnow())
                tx.add(row)
                tx.flush()
        except IntegrityError:
            raise DuplicateZoneShare("Duplicate SharedZone") from None
        return row

    @staticmethod
    def _share(tx: Session, caller: Caller, zone_id: str, share_id: str) -> models.ZoneShare:
        find_zone(tx, caller, zone_id)
        row = tx.scalars(sa.select(S).where(S.id == share_id, S.zone_id == zone_id)).first()
        if row is None:
            raise ZoneShareNotFound("Could not find SharedZone")
        return row

    def get(self, caller: Caller, zone_id: str, share_id: str) -> models.ZoneShare:
        with self.db.reading() as tx:
            return self._share(tx, caller, zone_id, share_id)

    def find(self, caller: Caller, zone_id: str, listing: Listing) -> Page:
        query = sa.select(S).where(S.zone_id == zone_id)
        for key, value in listing.filters.items():
            query = query.where(matching(getattr(S, key), value))
        with self.db.reading() as tx:
            find_zone(tx, caller, zone_id)
            return page(tx, query, S, listing)

    def delete(self, caller: Caller, zone_id: str, share_id: str) -> None:
        with self.db.transaction() as tx:
            writable_zone(tx, caller, zone_id)
            row = self._share(tx, caller, zone_id, share_id)
            owned = tx.scalars(sa.select(models.RecordSet.id).where(
                models.RecordSet.zone_id == zone_id,
                models.RecordSet.project_id == row.target_project_id)).first()
            if owned is not None:
                raise SharedZoneHasRecordSets(
                    f"Please delete all recordsets owned by project {row.target_project_id} "
                    "before unsharing this zone.")
            tx.delete(row)
