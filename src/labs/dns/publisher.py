"""Publishing zones to the backend that serves them.

After every change the DNS service pushes the changed zone whole (built from the
database, SOA first); once the push succeeds the zone and its pending recordsets
become ACTIVE, provided no newer change came meanwhile (which publishes again). A
push that fails leaves the zone PENDING and is logged at warning; `sync` pushes again
every zone (or only the pending ones) and finishes pending deletes.

Pushes of one zone take turns on a lock, and each reads the zone when its turn comes,
so an older content never overwrites a newer one in this process.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database, affected
from labs.dns import models
from labs.dns.backends.base import DnsBackend, RecordSet, Zone

log = logging.getLogger("labs.dns.publisher")

Z, RS, R = models.Zone, models.RecordSet, models.Record


def zone_value(tx: Session, zone: models.Zone) -> Zone:
    """The zone as the backend is to serve it: every recordset, SOA first."""
    records: dict[str, list[str]] = defaultdict(list)
    for recordset_id, data in tx.execute(sa.select(R.recordset_id, R.data)
                                         .where(R.zone_id == zone.id)):
        records[recordset_id].append(data)
    recordsets = tx.scalars(sa.select(RS).where(RS.zone_id == zone.id))
    values = [RecordSet(rs.name, rs.type, rs.ttl if rs.ttl is not None else zone.ttl,
                        tuple(sorted(records[rs.id])))
              for rs in recordsets if records[rs.id]]
    values.sort(key=lambda rs: (rs.type != "SOA", rs.name, rs.type))
    return Zone(zone.name, zone.serial, tuple(values))


class Publisher:
    def __init__(self, db: Database, backend: DnsBackend) -> None:
        self.db = db
        self.backend = backend
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._guard = threading.Lock()

    def _lock(self, zone_id: str) -> threading.Lock:
        with self._guard:
            return self._locks[zone_id]

    def publish(self, zone_id: str) -> bool:
        """Push the zone as it is now (or remove it when it is being deleted); whether
        the backend took it. Never raises for a backend failure."""
        with self._lock(zone_id):
            with self.db.reading() as tx:
                zone = tx.get(Z, zone_id)
                if zone is None:
                    return True
                if zone.action == "DELETE":
                    return self._remove(zone)
                value = zone_value(tx, zone)
            try:
                self.backend.publish(value)
            except Exception as exc:
                log.warning("zone %s (serial %d) could not be published to the %s backend; "
                            "it stays PENDING until a sync pushes it: %s", zone.name,
                            zone.serial, self.backend.name, exc)
                return False
            self._mark_active(zone_id, value.serial)
            return True

    def _remove(self, zone: models.Zone) -> bool:
        try:
            self.backend.remove(zone.name)
        except Exception as exc:
            log.warning("zone %s could not be removed from the %s backend; it stays "
                        "PENDING DELETE until a sync removes it: %s", zone.name,
                        self.backend.name, exc)
            return False
        with self.db.transaction() as tx:
            tx.execute(sa.delete(Z).where(Z.id == zone.id, Z.action == "DELETE"))
        with self._guard:
            self._locks.pop(zone.id, None)
        log.info("zone %s deleted", zone.name)
        return True

    def _mark_active(self, zone_id: str, serial: int) -> None:
        with self.db.transaction() as tx:
            done = affected(tx.execute(sa.update(Z).where(Z.id == zone_id, Z.serial == serial,
                                                          Z.action != "DELETE")
                                       .values(status="ACTIVE", action="NONE")))
            if done:
                tx.execute(sa.update(RS).where(RS.zone_id == zone_id, RS.status == "PENDING")
                           .values(status="ACTIVE", action="NONE"))

    def sync(self, pending_only: bool = False) -> int:
        """Push every zone (only PENDING ones with ``pending_only``) and finish pending
        deletes; how many failed."""
        query = sa.select(Z.id)
        if pending_only:
            query = query.where(Z.status == "PENDING")
        with self.db.reading() as tx:
            zone_ids = list(tx.scalars(query.order_by(Z.name)))
        failed = sum(not self.publish(zone_id) for zone_id in zone_ids)
        if failed:
            log.warning("sync: %d of %d zones could not be pushed to the %s backend",
                        failed, len(zone_ids), self.backend.name)
        return failed

    def pending(self) -> int:
        """How many zones wait to be pushed (or removed)."""
        with self.db.reading() as tx:
            return int(tx.scalar(sa.select(sa.func.count()).select_from(models.Zone)
                                 .where(models.Zone.status == "PENDING")) or 0)
