"""Simple tenant usage (Nova's ``os-simple-tenant-usage``): for a period, each server's
hours of life in it and what its flavor held (vCPUs, memory, disk), summed per project.

A server counts from ``launched_at`` to ``terminated_at`` (or the end of the period),
deleted ones too, as Nova computes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from labs.common.db import Database
from labs.compute import models
from labs.compute.payloads import utcnow

Inst = models.Instance


@dataclass
class ServerUsage:
    instance_id: str
    name: str
    project_id: str
    hours: float
    memory_mb: int
    local_gb: int
    vcpus: int
    flavor: str
    started_at: datetime | None
    ended_at: datetime | None
    state: str
    uptime: int


@dataclass
class ProjectUsage:
    project_id: str
    start: datetime
    stop: datetime
    servers: list[ServerUsage] = field(default_factory=list)

    def total(self, key: str) -> float:
        """The sum over the servers of ``key`` (memory_mb, vcpus, local_gb) times hours;
        of the hours alone for "hours"."""
        return sum(s.hours * (1 if key == "hours" else getattr(s, key)) for s in self.servers)


def hours_in(row: models.Instance, start: datetime, stop: datetime) -> float:
    """Nova's ``_hours_for``: the part of [launched, terminated] inside [start, stop]."""
    launched: datetime | None = row.launched_at
    terminated: datetime | None = row.terminated_at
    if launched is None or launched > stop or (terminated and terminated < start):
        return 0.0
    end = min(stop, terminated) if terminated else stop
    return max((end - max(launched, start)).total_seconds(), 0.0) / 3600.0


class UsageService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def usage(self, start: datetime, stop: datetime,
              project_id: str | None = None) -> list[ProjectUsage]:
        """Every project's usage (one project's, with ``project_id``) in [start, stop]:
        the servers launched before ``stop`` and not terminated before ``start``."""
        query = sa.select(Inst).where(
            sa.or_(Inst.terminated_at.is_(None), Inst.terminated_at >= start),
            sa.or_(Inst.launched_at.is_(None), Inst.launched_at <= stop)
        ).order_by(Inst.project_id, Inst.created_at, Inst.id)
        if project_id is not None:
            query = query.where(Inst.project_id == project_id)
        now = utcnow()
        found: dict[str, ProjectUsage] = {}
        with self.db.reading() as tx:
            for row in tx.scalars(query):
                flavor = row.flavor or {}
                ended = row.terminated_at
                began = row.launched_at
                lived = ((ended or now) - began).total_seconds() if began else 0
                found.setdefault(row.project_id, ProjectUsage(row.project_id, start, stop)) \
                    .servers.append(ServerUsage(
                        instance_id=row.id, name=row.name, project_id=row.project_id,
                        hours=hours_in(row, start, stop),
                        memory_mb=int(flavor.get("ram", row.memory_mb)),
                        local_gb=int(flavor.get("disk", 0)) + int(flavor.get("ephemeral", 0)),
                        vcpus=int(flavor.get("vcpus", row.vcpus)),
                        flavor=str(flavor.get("name", "")), started_at=began,
                        ended_at=ended, state="terminated" if ended else row.vm_state,
                        uptime=int(lived)))
        return list(found.values())
