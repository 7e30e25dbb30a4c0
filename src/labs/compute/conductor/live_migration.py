"""Live migration, as the conductor drives it (Nova's LiveMigrationTask).

The API has set the server's task to ``migrating`` and recorded the migration
(``accepted``). Here: the scheduler claims room on the destination for the migration
(the server's own allocation stays on the source meanwhile) -> ``preparing``: the
destination's agent plugs the ports and waits for the guest -> ``running``: the source's
agent sends it and reports -> ``completed``: the server's host, node and allocation
switch to the destination; or ``error``: the destination's claim is dropped and the
server runs on where it was. The move has a key of its own, made here and sent to both
agents (never logged): its streams speak TLS with it. Each step is conditional on the
migration's status, so a redelivered message changes nothing twice.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import sqlalchemy as sa

from labs.common.db import Database, affected
from labs.compute import models, states
from labs.compute.actions import finish_event
from labs.compute.instance_network import InstanceNetworking
from labs.compute.payloads import BuildSpec, utcnow
from labs.compute.rpcapi import AgentAPI, SchedulerAPI

log = logging.getLogger("labs.compute.conductor.live_migration")
Inst, Alloc, Mig = models.Instance, models.Allocation, models.Migration
ACTION, EVENT = "live-migration", "compute_live_migration"
STATS = ("memory_total", "memory_processed", "memory_remaining", "disk_total",
         "disk_processed", "disk_remaining")


class LiveMigrations:
    def __init__(self, db: Database, scheduler: SchedulerAPI, agents: AgentAPI,
                 networking: InstanceNetworking) -> None:
        self.db = db
        self.scheduler = scheduler
        self.agents = agents
        self.networking = networking

    def start(self, instance_id: str, migration_id: str, host: str | None,
              force: bool = False) -> None:
        if not self._advance(migration_id, ("accepted",), "queued"):
            return
        place = self.scheduler.select_for_move(instance_id, migration_id, host, force)
        if "error" not in place:
            return self._prepare(instance_id, migration_id, place["host"])
        self.done(instance_id, migration_id, None,
                  f"No valid host was found for the live migration: {place['error']}")

    def _prepare(self, instance_id: str, migration_id: str, dest: str) -> None:
        with self.db.transaction() as tx:
            row, migration = tx.get(Inst, instance_id), _migration(tx, migration_id)
            if row is None or row.deleted or migration is None or migration.status != "queued":
                return
            migration.status, migration.updated_at = "preparing", utcnow()
            migration.dest_compute = migration.dest_node = migration.dest_host = dest
            source = row.host
            spec = BuildSpec.of_instance(row, self.networking.specs(tx, [row]).get(row.id))
        psk = secrets.token_hex(32)  # the move's own key: its streams speak TLS with it
        try:
            target = self.agents.prepare_live_migration(dest, spec, psk)
        except Exception as exc:
            self._abort(dest, instance_id)
            return self.done(instance_id, migration_id, None,
                             f"{dest} could not prepare for the server: {exc}")
        if source is None or not self._advance(migration_id, ("preparing",), "running"):
            self._abort(dest, instance_id)
            return None
        self.agents.live_migrate_instance(source, instance_id, migration_id, dest, target,
                                          psk)
        return None

    def _abort(self, dest: str, instance_id: str) -> None:
        try:
            self.agents.abort_live_migration(dest, instance_id)
        except Exception as exc:
            log.warning("%s did not remove what it prepared for %s: %s (its next "
                        "reconcile will)", dest, instance_id, exc)

    def done(self, instance_id: str, migration_id: str, host: str | None,
             error: str | None = None, stats: dict[str, int] | None = None) -> None:
        """How it ended (``host``: the source that reports it; None: the conductor)."""
        with self.db.transaction() as tx:
            migration = _migration(tx, migration_id, lock=True)
            if migration is None or migration.status in ("completed", "error", "failed"):
                return
            row = tx.get(Inst, instance_id, with_for_update=True)
            now = utcnow()
            for key in STATS:
                if key in (stats or {}):
                    setattr(migration, key, int((stats or {})[key]))
            migration.status, migration.updated_at = ("error" if error else "completed"), now
            if error is None and row is not None and not row.deleted:
                dest = migration.dest_compute
                tx.execute(sa.delete(Alloc).where(Alloc.instance_id == instance_id))
                tx.execute(sa.update(Alloc).where(Alloc.instance_id == migration_id)
                           .values(instance_id=instance_id))
                row.host = row.node = dest
                row.availability_zone = _zone(tx, dest) or row.availability_zone
                self.networking.ports_plugged(tx, instance_id, True, dest)
            else:
                tx.execute(sa.delete(Alloc).where(Alloc.instance_id == migration_id))
            if row is not None and row.task_state == states.MIGRATING:
                row.task_state, row.updated_at = None, now
            finish_event(tx, instance_id, ACTION, EVENT, host or migration.source_compute,
                         error)
        if error:
            log.warning("live migration %s of %s failed: %s", migration_id, instance_id, error)
        else:
            log.info("live migration %s of %s to %s done", migration_id, instance_id,
                     migration.dest_compute)

    def _advance(self, migration_id: str, before: tuple[str, ...], after: str) -> bool:
        with self.db.transaction() as tx:
            moved = tx.execute(sa.update(Mig).where(Mig.uuid == migration_id,
                                                    Mig.status.in_(before))
                               .values(status=after, updated_at=utcnow()))
            return affected(moved) > 0


def _migration(tx: Any, migration_id: str, lock: bool = False) -> models.Migration | None:
    query = sa.select(Mig).where(Mig.uuid == migration_id)
    found: models.Migration | None = tx.scalars(
        query.with_for_update() if lock else query).first()
    return found


def _zone(tx: Any, host: str | None) -> str | None:
    zone: str | None = tx.scalar(sa.select(models.Service.availability_zone).where(
        models.Service.host == host))
    return zone
