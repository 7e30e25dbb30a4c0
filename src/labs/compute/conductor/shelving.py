"""The conductor's part in shelving: recording what a shelve or offload left, scheduling
an offloaded server again and recording its unshelve (see
labs.compute.api.server_shelve). Each message may come twice: every change is
conditional on the state the first one found."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import sqlalchemy as sa

from labs.common.db import affected
from labs.compute import models, states
from labs.compute.actions import finish_event
from labs.compute.instance_network import wants_network
from labs.compute.instances import SHELVED_KEYS
from labs.compute.payloads import BuildSpec, utcnow

if TYPE_CHECKING:
    from labs.common.db import Database
    from labs.compute.config import ComputeOptions
    from labs.compute.instance_network import InstanceNetworking
    from labs.compute.rpcapi import AgentAPI, SchedulerAPI

log = logging.getLogger("labs.compute.conductor.manager")
Inst, Alloc, Node, Svc = models.Instance, models.Allocation, models.ComputeNode, models.Service
EVENTS = {"shelve": "compute_shelve_instance",
          "shelveOffload": "compute_shelve_offload_instance",
          "unshelve": "compute_unshelve_instance"}


class ShelveConductor:
    """Part of the Conductor (served on the ``conductor`` topic)."""

    db: Database
    options: ComputeOptions
    scheduler: SchedulerAPI
    agents: AgentAPI
    networking: InstanceNetworking

    def _refresh_project(self, project_id: str) -> None: ...

    def shelve_done(self, instance_id: str, host: str, power_state: int, offloaded: bool,
                    error: str | None = None) -> None:
        with self.db.transaction() as tx:
            row = tx.get(Inst, instance_id, with_for_update=True)
            if row is None or row.deleted or row.host != host or row.task_state not in (
                    states.SHELVING, states.SHELVING_OFFLOADING):
                return
            action = "shelve" if row.task_state == states.SHELVING else "shelveOffload"
            row.power_state, row.task_state, row.updated_at = power_state, None, utcnow()
            if error is not None:
                if action == "shelve":  # its image is gone again
                    row.system_metadata = {k: v for k, v in (row.system_metadata or {}).items()
                                           if k not in SHELVED_KEYS}
            elif offloaded:
                tx.execute(sa.delete(Alloc).where(Alloc.instance_id == instance_id))
                row.vm_state, row.host, row.node = states.SHELVED_OFFLOADED, None, None
                row.power_state = states.NOSTATE
                self.networking.ports_plugged(tx, instance_id, False)
            else:
                row.vm_state = states.SHELVED
                self.networking.ports_plugged(tx, instance_id, False)
            finish_event(tx, instance_id, action, EVENTS[action], host, error)
            if offloaded and error is None and action == "shelve":
                finish_event(tx, instance_id, action, EVENTS["shelveOffload"], host)

    def unshelve_instance(self, instance_id: str, image_url: str, token: str) -> None:
        with self.db.reading() as tx:
            row = tx.get(Inst, instance_id)
            if (row is None or row.deleted or row.vm_state != states.SHELVED_OFFLOADED
                    or row.task_state != states.UNSHELVING or row.host is not None):
                return
        place = self.scheduler.select_destinations([instance_id])[instance_id]
        if "host" not in place:
            self._unshelve_failed(instance_id, None, place["error"])
            return
        host, node_id = place["host"], place["node"]
        with self.db.transaction() as tx:
            zone = tx.scalar(sa.select(Svc.availability_zone)
                             .join(Node, Node.service_id == Svc.id)
                             .where(Node.id == node_id)) or self.options.default_availability_zone
            placed = tx.execute(sa.update(Inst).where(
                Inst.id == instance_id, Inst.deleted.is_(False), Inst.host.is_(None),
                Inst.task_state == states.UNSHELVING).values(
                    host=host, node=host, availability_zone=zone, updated_at=utcnow()))
            row = tx.get(Inst, instance_id)
            if not affected(placed) or row is None:  # deleted meanwhile, or a twin's
                if row is None or row.deleted or row.host != host:
                    tx.execute(sa.delete(Alloc).where(Alloc.instance_id == instance_id,
                                                      Alloc.node_id == node_id))
                return
            image_id = (row.system_metadata or {}).get("shelved_image_id")
            spec = replace(BuildSpec.of_instance(row, self.networking.specs(tx, [row])
                                                 .get(row.id)), image_id=image_id or row.image_ref)
        self.agents.unshelve_instance(host, instance_id, image_url, token, image_id, spec)

    def _unshelve_failed(self, instance_id: str, host: str | None, error: str) -> None:
        """Back to SHELVED_OFFLOADED, its claim released, as Nova does."""
        with self.db.transaction() as tx:
            row = tx.get(Inst, instance_id, with_for_update=True)
            if row is None or row.deleted or row.task_state != states.UNSHELVING:
                return
            tx.execute(sa.delete(Alloc).where(Alloc.instance_id == instance_id))
            row.host = row.node = None
            row.task_state, row.updated_at = None, utcnow()
            finish_event(tx, instance_id, "unshelve", EVENTS["unshelve"], host, error)
        log.warning("unshelve of %s failed: %s", instance_id, error)

    def unshelve_done(self, instance_id: str, host: str, power_state: int,
                      error: str | None = None) -> None:
        with self.db.transaction() as tx:
            row = tx.get(Inst, instance_id, with_for_update=True)
            if (row is None or row.deleted or row.host != host
                    or row.task_state != states.UNSHELVING):
                return
            offloaded = row.vm_state == states.SHELVED_OFFLOADED
            if error is not None and offloaded:
                pass  # below, once this transaction ends
            elif error is not None:  # the VM on its host did not start
                row.task_state, row.power_state, row.updated_at = None, power_state, utcnow()
                finish_event(tx, instance_id, "unshelve", EVENTS["unshelve"], host, error)
                return
            else:
                row.vm_state, row.task_state = states.ACTIVE, None
                row.power_state, row.updated_at = power_state, utcnow()
                row.system_metadata = {k: v for k, v in (row.system_metadata or {}).items()
                                       if k not in SHELVED_KEYS}
                self.networking.ports_plugged(tx, instance_id, True, host)
                finish_event(tx, instance_id, "unshelve", EVENTS["unshelve"], host)
            project_id = row.project_id if wants_network(row) and offloaded else None
        if error is not None:
            self._unshelve_failed(instance_id, host, error)
        elif project_id is not None:  # a member is back on a host
            self._refresh_project(project_id)

    def event_done(self, instance_id: str, host: str, action: str, event: str,
                   error: str | None = None) -> None:
        with self.db.transaction() as tx:
            finish_event(tx, instance_id, action, event, host, error)
