"""The parts of the DNS service and how they are (Designate's ``/v2/service_statuses``).

Each part reports itself on a heartbeat (`Heartbeat` below, in the DNS service's
process): ``api`` (the process serving the API), ``server`` (the backend answering
queries: the embedded server asked a real query, or PowerDNS's API), ``sink`` (its last
reconciliation with the live instances) and ``publisher`` (zones waiting to be pushed to
the backend). A part that has not reported for `stale_seconds` is shown DOWN, whatever it
said last.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from labs.common.db import Database
from labs.dns import models
from labs.dns.errors import NotFound
from labs.dns.listing import Listing, Page, page
from labs.dns.zones import utcnow

SS = models.ServiceStatus
STATUS_FILTERS = ("hostname", "service_name", "status")
STATUS_SORT_KEYS = ("created_at", "id", "updated_at", "hostname", "service_name")
#: A part's report: (status, stats, capabilities).
Report = tuple[str, dict[str, Any], dict[str, Any]]


class ServiceStatusNotFound(NotFound):
    error_type = "service_status_not_found"


@dataclass(frozen=True)
class Shown:
    """A part's row with the status the API shows (DOWN when its heartbeat is stale)."""

    row: models.ServiceStatus
    status: str


class ServiceStatuses:
    def __init__(self, db: Database, stale_seconds: float) -> None:
        self.db = db
        self.stale_seconds = stale_seconds

    def beat(self, service_name: str, hostname: str, report: Report) -> None:
        status, stats, capabilities = report
        now = utcnow()
        with self.db.transaction() as tx:
            row = tx.scalars(sa.select(SS).where(SS.service_name == service_name,
                                                 SS.hostname == hostname)
                             .with_for_update()).first()
            if row is None:
                tx.add(SS(id=str(uuid.uuid4()), service_name=service_name, hostname=hostname,
                          status=status, stats=stats, capabilities=capabilities,
                          heartbeated_at=now, created_at=now, updated_at=None))
            else:
                row.status, row.stats, row.capabilities = status, stats, capabilities
                row.heartbeated_at, row.updated_at = now, now

    def _shown(self, row: models.ServiceStatus) -> Shown:
        stale = utcnow() - row.heartbeated_at > timedelta(seconds=self.stale_seconds)
        return Shown(row, "DOWN" if stale else row.status)

    def get(self, status_id: str) -> Shown:
        with self.db.reading() as tx:
            row = tx.get(SS, status_id)
        if row is None:
            raise ServiceStatusNotFound("Could not find ServiceStatus")
        return self._shown(row)

    def find(self, listing: Listing) -> tuple[Page, list[Shown]]:
        query = sa.select(SS)
        for key, value in listing.filters.items():
            if key != "status":
                query = query.where(getattr(SS, key) == value)
        with self.db.reading() as tx:
            found = page(tx, query, SS, Listing({}, listing.limit, listing.marker,
                                                listing.sort_key, listing.sort_dir))
        shown = [self._shown(row) for row in found.rows]
        if "status" in listing.filters:
            shown = [s for s in shown if s.status == listing.filters["status"]]
        return found, shown


@dataclass
class Heartbeat:
    """Asks each part how it is and records it; `beat` runs on a period."""

    statuses: ServiceStatuses
    parts: dict[str, Callable[[], Report]] = field(default_factory=dict)
    hostname: str = field(default_factory=socket.gethostname)

    def beat(self) -> None:
        for name, probe in self.parts.items():
            try:
                report = probe()
            except Exception as exc:  # a failing probe is a DOWN part
                report = ("DOWN", {"error": str(exc)[:200]}, {})
            self.statuses.beat(name, self.hostname, report)
