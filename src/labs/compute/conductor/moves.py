"""Resizes and cold migrations, as the conductor drives them (Nova's steps and states).

The API records the migration (status pre-migrating) and the server's task
(resize_prep), then calls :meth:`ConductorMoves.migrate_server`: the scheduler claims the
new flavor on a host (the server's old claim passes to the migration), the source agent
stops the guest, sets it aside and offers its disk (resize_migrating, migrating), the
destination agent copies it and starts the guest with the new flavor (resize_migrated,
resize_finish, post-migrating), and the server waits in RESIZED (VERIFY_RESIZE,
migration finished) on the destination. Confirm: the source drops its copy and the
migration's claim (confirmed). Revert (resize_reverting, reverting): the destination
drops its copy and claim, the source brings its own back, with the old flavor (reverted).
A move that fails on the way is reverted the same way, and its migration ends in error.

While a server moves it holds the larger of its two flavors in the quota (see
api.server_moves); confirm leaves it with the new one, revert with the old.
Every step is a conditional update, so a redelivered message changes nothing twice.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.compute import models, states
from labs.compute.actions import finish_event
from labs.compute.instance_network import InstanceNetworking
from labs.compute.moves import action_of, fault, give_up, restore_claims, settle, with_flavor
from labs.compute.payloads import BuildSpec, utcnow
from labs.compute.rpcapi import AgentAPI, SchedulerAPI

log = logging.getLogger("labs.compute.conductor.moves")
Inst, Alloc, Mig = models.Instance, models.Allocation, models.Migration
Node, Svc = models.ComputeNode, models.Service


class ConductorMoves:
    """The move steps of Conductor, which provides what is declared here."""

    db: Database
    scheduler: SchedulerAPI
    agents: AgentAPI
    networking: InstanceNetworking

    def migrate_server(self, instance_id: str, migration_id: str) -> str | None:
        """A call from the API: place the move and start it; None, or why not."""
        place = self.scheduler.select_move_destination(instance_id, migration_id)
        with self.db.transaction() as tx:
            move = self._migration(tx, migration_id)
            if "error" in place or move is None or move.status != "pre-migrating":
                why = place.get("error") or "The move was given up."
                give_up(tx, instance_id, move, why)
                return why
            host = place["host"]
            move.status, move.dest_compute, move.dest_node = "migrating", host, host
            move.dest_host = host
            move.updated_at = utcnow()
            tx.execute(sa.update(Inst).where(Inst.id == instance_id,
                                             Inst.task_state == states.RESIZE_PREP)
                       .values(task_state=states.RESIZE_MIGRATING, updated_at=utcnow()))
            source = move.source_compute
        assert source is not None
        self.agents.migrate_out(source, instance_id, migration_id)
        return None

    def migrated_out(self, instance_id: str, migration_id: str, host: str, source: str,
                     error: str | None = None) -> None:
        """The source set the instance aside: the destination copies it in."""
        with self.db.transaction() as tx:
            move = self._migration(tx, migration_id)
            if move is None or move.status != "migrating" or move.source_compute != host:
                return
            if error:
                finish_event(tx, instance_id, action_of(move), "compute_resize_instance",
                             host, error)
                give_up(tx, instance_id, move, error)
                return
            row = tx.get(Inst, instance_id)
            if row is None or row.deleted:
                return
            move.status, move.updated_at = "post-migrating", utcnow()
            row.task_state, row.updated_at = states.RESIZE_FINISH, utcnow()
            finish_event(tx, instance_id, action_of(move), "compute_resize_instance", host)
            flavor = row.new_flavor or row.flavor
            spec = with_flavor(BuildSpec.of_instance(
                row, self.networking.specs(tx, [row]).get(row.id)), flavor)
            power_on = (row.system_metadata or {}).get("old_vm_state") != states.STOPPED
            dest = move.dest_compute
        assert dest is not None
        self.agents.migrate_in(dest, spec, migration_id, source, power_on)

    def migrated_in(self, instance_id: str, migration_id: str, host: str, power_state: int,
                    error: str | None = None) -> None:
        """The destination runs the instance (or could not): VERIFY_RESIZE (or back)."""
        with self.db.transaction() as tx:
            move = self._migration(tx, migration_id)
            row = tx.get(Inst, instance_id, with_for_update=True)
            if (move is None or move.status != "post-migrating" or move.dest_compute != host
                    or row is None or row.deleted):
                return
            finish_event(tx, instance_id, action_of(move), "compute_finish_resize", host,
                         error)
            if error:
                move.status, move.updated_at = "error", utcnow()
                row.task_state, row.updated_at = states.RESIZE_REVERTING, utcnow()
                revert, power_on = self._old_spec(tx, row), self._was_running(row)
            else:
                move.status, move.updated_at = "finished", utcnow()
                row.host = row.node = host
                row.availability_zone = self._zone(tx, host) or row.availability_zone
                row.flavor = row.new_flavor or row.flavor
                row.vm_state, row.task_state = states.RESIZED, None
                row.power_state, row.updated_at = power_state, utcnow()
                self.networking.ports_plugged(tx, instance_id,
                                              power_state == states.RUNNING, host)
                return
            source = move.source_compute
        assert source is not None
        log.warning("move of %s to %s failed, reverting it: %s", instance_id, host, error)
        self.agents.revert_migration(source, revert, migration_id, power_on)

    def migration_confirmed(self, instance_id: str, migration_id: str, host: str,
                            error: str | None = None) -> None:
        with self.db.transaction() as tx:
            move = self._migration(tx, migration_id)
            row = tx.get(Inst, instance_id, with_for_update=True)
            if move is None or move.status != "confirming" or row is None:
                return
            move.status, move.updated_at = "confirmed", utcnow()
            tx.execute(sa.delete(Alloc).where(Alloc.instance_id == migration_id))
            finish_event(tx, instance_id, "confirmResize", "compute_confirm_resize", host,
                         error)
            if row.deleted or row.vm_state != states.RESIZED:
                return
            row.vm_state = (states.ACTIVE if row.power_state == states.RUNNING
                            else states.STOPPED)
            settle(row, row.flavor)

    def migration_dropped(self, instance_id: str, migration_id: str, host: str,
                          error: str | None = None) -> None:
        """The destination of a revert destroyed its copy: the source brings its own back."""
        with self.db.transaction() as tx:
            move = self._migration(tx, migration_id)
            row = tx.get(Inst, instance_id, with_for_update=True)
            if (move is None or move.status != "reverting" or row is None or row.deleted
                    or row.task_state != states.RESIZE_REVERTING):
                return
            if error:
                finish_event(tx, instance_id, "revertResize", "compute_revert_resize", host,
                             error)
                move.status = "error"
                row.vm_state, row.task_state = states.ERROR, None
                row.fault, row.updated_at = fault(error), utcnow()
                return
            spec, source = self._old_spec(tx, row), move.source_compute
            power_on = self._was_running(row)
        assert source is not None
        self.agents.revert_migration(source, spec, migration_id, power_on)

    def migration_reverted(self, instance_id: str, migration_id: str, host: str,
                           power_state: int, error: str | None = None) -> None:
        with self.db.transaction() as tx:
            move = self._migration(tx, migration_id)
            row = tx.get(Inst, instance_id, with_for_update=True)
            if (move is None or move.source_compute != host or row is None or row.deleted
                    or row.task_state != states.RESIZE_REVERTING):
                return
            if move.status == "reverting":
                move.status = "reverted"
                finish_event(tx, instance_id, "revertResize", "compute_finish_revert_resize",
                             host, error)
            move.updated_at = utcnow()
            restore_claims(tx, instance_id, migration_id)
            row.host = row.node = host
            row.availability_zone = self._zone(tx, host) or row.availability_zone
            row.power_state = power_state
            if error:
                row.vm_state, row.fault = states.ERROR, fault(error)
            else:
                row.vm_state = (states.ACTIVE if power_state == states.RUNNING
                                else states.STOPPED)
            settle(row, row.old_flavor or row.flavor)
            self.networking.ports_plugged(tx, instance_id, power_state == states.RUNNING,
                                          host)

    def drop_moves(self, instance_id: str) -> None:
        """A deleted server's moves are over: a source still keeping a copy drops it
        (Nova confirms the resize of a server deleted in VERIFY_RESIZE)."""
        with self.db.transaction() as tx:
            moves = list(tx.scalars(sa.select(Mig).where(
                Mig.instance_id == instance_id,
                Mig.status.in_(("migrating", "post-migrating", "finished", "reverting")))
                .with_for_update()))
            for move in moves:
                move.status = "confirming" if move.status == "finished" else "error"
                move.updated_at = utcnow()
            kept = [(m.source_compute, m.dest_compute, m.uuid) for m in moves]
        for source, dest, migration_id in kept:
            if source is not None:
                self.agents.confirm_migration(source, instance_id, migration_id,
                                              unplug=source != dest)

    # -- helpers -------------------------------------------------------------------
    @staticmethod
    def _migration(tx: Session, migration_id: str) -> models.Migration | None:
        return tx.scalars(sa.select(Mig).where(Mig.uuid == migration_id)
                          .with_for_update()).first()

    @staticmethod
    def _zone(tx: Session, host: str) -> str | None:
        return tx.scalar(sa.select(Svc.availability_zone).join(Node, Node.service_id == Svc.id)
                         .where(Node.host == host))

    def _old_spec(self, tx: Session, row: models.Instance) -> BuildSpec:
        flavor = row.old_flavor or row.flavor
        return with_flavor(BuildSpec.of_instance(
            row, self.networking.specs(tx, [row]).get(row.id)), flavor)

    @staticmethod
    def _was_running(row: models.Instance) -> bool:
        return (row.system_metadata or {}).get("old_vm_state") != states.STOPPED
