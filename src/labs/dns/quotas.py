"""DNS quotas per project: zones, recordsets per zone, records per zone and recordset.

A project's limit is its own row where an admin set one, else the default from
``[dns]``; a negative limit means no limit. Records the cloud makes for its VMs do
not count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.common.row_locks import ensure_lock_row, take_lock
from labs.dns import models
from labs.dns.config import DnsOptions
from labs.dns.errors import OverQuota, QuotaResourceUnknown

RESOURCES = ("zones", "zone_recordsets", "zone_records", "recordset_records",
             "api_export_size")


class Quotas:
    def __init__(self, db: Database, options: DnsOptions) -> None:
        self.db = db
        self.options = options

    def defaults(self) -> dict[str, int]:
        o = self.options
        return {"zones": o.quota_zones, "zone_recordsets": o.quota_zone_recordsets,
                "zone_records": o.quota_zone_records,
                "recordset_records": o.quota_recordset_records,
                "api_export_size": o.quota_api_export_size}

    def limits(self, tx: Session, project_id: str) -> dict[str, int]:
        limits = self.defaults()
        for row in tx.scalars(sa.select(models.Quota).where(
                models.Quota.project_id == project_id)):
            limits[row.resource] = row.hard_limit
        return limits

    def get(self, project_id: str) -> dict[str, int]:
        with self.db.reading() as tx:
            return self.limits(tx, project_id)

    def set(self, project_id: str, values: Mapping[str, int]) -> dict[str, int]:
        unknown = sorted(set(values) - set(RESOURCES))
        if unknown:
            raise QuotaResourceUnknown(f"'{unknown[0]}' is not a valid quota resource.")
        with self.db.transaction() as tx:
            for resource, limit in values.items():
                row = tx.get(models.Quota, (project_id, resource))
                if row is None:
                    tx.add(models.Quota(project_id=project_id, resource=resource,
                                        hard_limit=limit))
                else:
                    row.hard_limit = limit
            tx.flush()
            return self.limits(tx, project_id)

    def reset(self, project_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute(sa.delete(models.Quota).where(models.Quota.project_id == project_id))

    def lock_project(self, project_id: str) -> Callable[[Session], None]:
        """Ready the project's lock row; the function returned takes the lock in a
        transaction (until it ends), before the zones are counted."""
        ensure_lock_row(self.db, models.ProjectLock, project_id)
        return lambda tx: take_lock(tx, models.ProjectLock, project_id)

    def check(self, tx: Session, project_id: str, **wanted: int) -> None:
        """Refuse with 413 when a count after the change would pass its limit."""
        limits = self.limits(tx, project_id)
        over = sorted((r for r, n in wanted.items() if 0 <= limits[r] < n), key=len)
        if over:
            raise OverQuota(f"Quota exceeded for {', '.join(over)}.")
