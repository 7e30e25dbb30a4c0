"""The scheduler service: reads the hosts, picks with filters and weighers, and claims.

Alloc claim is one short transaction on the chosen node: it takes the node's lock (a
write to its ``generation``), counts what the node already holds, and records the
allocation only if it still fits, and if the server group's hard policy still holds.
So two schedulers (or two builds) racing for the last room on a host never both win.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.compute import models
from labs.compute.config import ComputeOptions
from labs.compute.payloads import utcnow
from labs.compute.rpcapi import is_up
from labs.compute.scheduler.engine import Scheduler
from labs.compute.scheduler.hosts import HostState, RequestSpec

log = logging.getLogger("labs.compute.scheduler")
Inst, Alloc, Node, Svc = models.Instance, models.Allocation, models.ComputeNode, models.Service
#: The allocations made on a node after its last memory report (with the node joined):
#: the memory its reported MemAvailable does not show yet (for agents that do not say which
#: instances their figure counts).
ON_NODE = Node.id == Alloc.node_id
SINCE_REPORT = sa.and_(Node.memory_reported_at.is_not(None),
                       Alloc.created_at > Node.memory_reported_at)


class SchedulerManager:
    """Served on the ``scheduler`` topic."""

    def __init__(self, db: Database, scheduler: Scheduler, options: ComputeOptions) -> None:
        self.db = db
        self.scheduler = scheduler
        self.options = options

    def select_destinations(self, instance_ids: list[str]) -> dict[str, dict[str, str]]:
        """Place each instance; see :meth:`SchedulerAPI.select_destinations`."""
        hosts = self.host_states()
        by_host = {h.host: h for h in hosts}
        out: dict[str, dict[str, str]] = {}
        with self.db.reading() as tx:
            rows = {r.id: r for r in tx.scalars(sa.select(Inst).where(Inst.id.in_(instance_ids)))}
            for instance_id in instance_ids:
                row = rows.get(instance_id)
                if row is None or row.deleted:
                    out[instance_id] = {"error": "The server was deleted."}
                    continue
                held = tx.get(Alloc, instance_id)
                if held is not None:  # placed before (a redelivered request)
                    node = tx.get(Node, held.node_id)
                    if node is not None:
                        out[instance_id] = {"host": node.host, "node": node.id}
                        continue
                spec = self.request_spec(tx, row)
                out[instance_id] = self._place(spec, row, hosts, by_host)
        return out

    def select_for_move(self, instance_id: str, consumer_id: str,
                        host: str | None, force: bool = False) -> dict[str, str]:
        """A host for the server to move to, not its own (``host`` if given and it
        fits; ``force``: whatever the filters say, if it has room), claimed for
        ``consumer_id``; see :meth:`SchedulerAPI.select_for_move`."""
        hosts = self.host_states()
        with self.db.reading() as tx:
            row = tx.get(Inst, instance_id)
            if row is None or row.deleted:
                return {"error": "The server was deleted."}
            held = tx.get(Alloc, consumer_id)
            node = tx.get(Node, held.node_id) if held is not None else None
            if node is not None:  # claimed before (a redelivered request)
                return {"host": node.host, "node": node.id}
            spec = dataclasses.replace(
                self.request_spec(tx, row), ignore_hosts=frozenset({row.host or ""}),
                force_hosts=frozenset({host} if host else ()))
            tx.expunge(row)
        candidates = [h for h in hosts if h.host == host] if force and host else \
            self.scheduler.candidates(hosts, spec)
        for candidate in candidates:
            if self.claim(candidate.node_id, row, spec, consumer_id):
                return {"host": candidate.host, "node": candidate.node_id}
        if force and host:
            return {"error": f"Host {host} has no room for the server."}
        return {"error": self.scheduler.explain(hosts, spec)}

    def select_move_destination(self, instance_id: str, migration_id: str) -> dict[str, str]:
        """Place a resize or cold migration; see :meth:`SchedulerAPI.select_move_destination`.
        A cold migration never stays on its host; a resize may, with the option
        ``allow_resize_to_same_host``."""
        hosts = self.host_states()
        with self.db.reading() as tx:
            row = tx.get(Inst, instance_id)
            move = tx.scalars(sa.select(models.Migration)
                              .where(models.Migration.uuid == migration_id)).first()
            if row is None or row.deleted or move is None:
                return {"error": "The server was deleted."}
            if tx.get(Alloc, migration_id) is not None:  # placed before (asked again)
                held = tx.get(Alloc, instance_id)
                node = tx.get(Node, held.node_id) if held is not None else None
                return {"host": node.host, "node": node.id} if node is not None else {
                    "error": "The server's claim is gone."}
            spec, flavor = self.request_spec(tx, row), row.new_flavor or row.flavor
        stay = move.migration_type == "resize" and self.options.allow_resize_to_same_host
        spec = replace(spec, vcpus=int(flavor["vcpus"]), memory_mb=int(flavor["ram"]),
                       disk_gb=int(flavor["disk"]) + int(flavor.get("ephemeral") or 0),
                       ignore_hosts=frozenset() if stay else frozenset({move.source_compute or ""}),
                       force_hosts=frozenset({move.dest_host} if move.dest_host else ()))
        return self._place(spec, row, hosts, {h.host: h for h in hosts}, migration_id)

    def _place(self, spec: RequestSpec, row: models.Instance, hosts: list[HostState],
               by_host: dict[str, HostState], migration_id: str | None = None) -> dict[str, str]:
        for candidate in self.scheduler.candidates(hosts, spec):
            if self.claim(candidate.node_id, row, spec, migration_id=migration_id):
                by_host[candidate.host].consume(spec)
                return {"host": candidate.host, "node": candidate.node_id}
        return {"error": self.scheduler.explain(hosts, spec)}

    def request_spec(self, tx: Session, row: models.Instance) -> RequestSpec:
        group_policy, group_rules, group_hosts = None, {}, {}
        if row.server_group_id:
            group = tx.get(models.ServerGroup, row.server_group_id)
            if group is not None:
                group_policy, group_rules = group.policy, dict(group.rules or {})
                group_hosts = dict(Counter(tx.scalars(
                    sa.select(Node.host).join(Alloc, Alloc.node_id == Node.id)
                    .join(Inst, Inst.id == Alloc.instance_id)
                    .where(Inst.server_group_id == group.id, Inst.id != row.id,
                           Inst.deleted.is_(False)))))
        return RequestSpec(
            instance_id=row.id, project_id=row.project_id, vcpus=row.vcpus,
            memory_mb=row.memory_mb, disk_gb=row.disk_gb,
            availability_zone=row.requested_zone, group_id=row.server_group_id,
            group_policy=group_policy,
            group_rules={k: int(v) for k, v in group_rules.items()},
            group_hosts=group_hosts, ignore_hosts=frozenset(row.failed_hosts or ()),
            force_hosts=frozenset(filter(None, [(row.system_metadata or {}).get(
                "unshelve_host")])))  # an admin's unshelve to a host (2.91)

    def host_states(self) -> list[HostState]:
        """Every agent's node with what is claimed on it: four queries in all."""
        down_before = utcnow() - timedelta(seconds=self.options.service_down_seconds)
        with self.db.reading() as tx:
            used: dict[str, tuple[int, int, int, int]] = {
                node_id: (int(v), int(m), int(d), int(n)) for node_id, v, m, d, n in tx.execute(
                    sa.select(Alloc.node_id, sa.func.sum(Alloc.vcpus), sa.func.sum(Alloc.memory_mb),
                              sa.func.sum(Alloc.disk_gb), sa.func.count()).group_by(Alloc.node_id))}
            since: dict[str, tuple[int, int]] = {
                node_id: (int(m), int(n)) for node_id, m, n in tx.execute(
                    sa.select(Alloc.node_id, sa.func.sum(Alloc.memory_mb), sa.func.count())
                    .join(Node, ON_NODE).where(SINCE_REPORT).group_by(Alloc.node_id))}
            rows = tx.execute(sa.select(Node, Svc).join(Svc, Svc.id == Node.service_id)).all()
        states = []
        for node, service in rows:
            v, m, d, n = used.get(node.id, (0, 0, 0, 0))
            states.append(HostState(
                host=node.host, node_id=node.id, availability_zone=service.availability_zone,
                enabled=not service.disabled, up=is_up(service, down_before),
                vcpus=node.vcpus, memory_mb=node.memory_mb, disk_gb=node.local_gb,
                vcpus_used=v, memory_mb_used=m, disk_gb_used=d,
                cpu_allocation_ratio=node.cpu_allocation_ratio,
                ram_allocation_ratio=node.ram_allocation_ratio,
                disk_allocation_ratio=node.disk_allocation_ratio, instances=n,
                reserved_memory_mb=node.reserved_memory_mb,
                memory_overhead_mb=node.memory_overhead_mb,
                memory_available_mb=_available(node, (m, n), since.get(node.id, (0, 0)))))
        return states

    def claim(self, node_id: str, row: models.Instance, spec: RequestSpec,
              consumer_id: str | None = None, *, migration_id: str | None = None) -> bool:
        """Record the allocation if the node still has room (see the module doc), for
        the instance or for ``consumer_id`` (a live migration holds the room a server
        moves to, until it has moved). For a resize or cold migration
        (``migration_id``), the instance's claim on its host passes to the migration
        (held until the move is confirmed or reverted), as Nova's placement does."""
        consumer_id = consumer_id or row.id
        with self.db.transaction() as tx:
            tx.execute(sa.update(Node).where(Node.id == node_id)
                       .values(generation=Node.generation + 1))
            node = tx.get(Node, node_id)
            if node is None:
                return False
            v, m, d, n = tx.execute(
                sa.select(sa.func.coalesce(sa.func.sum(Alloc.vcpus), 0),
                          sa.func.coalesce(sa.func.sum(Alloc.memory_mb), 0),
                          sa.func.coalesce(sa.func.sum(Alloc.disk_gb), 0), sa.func.count())
                .where(Alloc.node_id == node_id)).one()
            m_since, n_since = tx.execute(
                sa.select(sa.func.coalesce(sa.func.sum(Alloc.memory_mb), 0), sa.func.count())
                .join(Node, ON_NODE).where(SINCE_REPORT, Alloc.node_id == node_id)).one()
            host = HostState(
                host=node.host, node_id=node.id, availability_zone="", enabled=True, up=True,
                vcpus=node.vcpus, memory_mb=node.memory_mb, disk_gb=node.local_gb,
                memory_mb_used=int(m), instances=int(n),
                ram_allocation_ratio=node.ram_allocation_ratio,
                reserved_memory_mb=node.reserved_memory_mb,
                memory_overhead_mb=node.memory_overhead_mb,
                memory_available_mb=_available(node, (int(m), int(n)),
                                               (int(m_since), int(n_since))))
            if (v + spec.vcpus > node.vcpus * node.cpu_allocation_ratio
                    or not host.memory_fits(spec)
                    or d + spec.disk_gb > node.local_gb * node.disk_allocation_ratio):
                return False
            if not self._group_holds(tx, node_id, row, spec):
                return False
            if migration_id is not None:
                if tx.get(Alloc, migration_id) is not None:
                    return False
                tx.execute(sa.update(Alloc).where(Alloc.instance_id == row.id)
                           .values(instance_id=migration_id))
            elif tx.get(Alloc, consumer_id) is not None:
                return False
            tx.add(Alloc(instance_id=consumer_id, node_id=node_id, vcpus=spec.vcpus,
                     memory_mb=spec.memory_mb, disk_gb=spec.disk_gb, created_at=utcnow()))
            return True

    @staticmethod
    def _group_holds(tx: Session, node_id: str, row: models.Instance,
                     spec: RequestSpec) -> bool:
        """Hard affinity and anti-affinity, checked again under the node's lock."""
        if spec.group_policy not in ("affinity", "anti-affinity") or not spec.group_id:
            return True
        members: dict[str, Any] = {node: n for node, n in tx.execute(
            sa.select(Alloc.node_id, sa.func.count()).join(Inst, Inst.id == Alloc.instance_id)
            .where(Inst.server_group_id == spec.group_id, Inst.id != row.id,
                   Inst.deleted.is_(False))
            .group_by(Alloc.node_id))}
        if spec.group_policy == "affinity":
            return not members or set(members) == {node_id}
        limit = int(spec.group_rules.get("max_server_per_host", 1))
        return int(members.get(node_id, 0)) < limit

    def release(self, instance_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute(sa.delete(Alloc).where(Alloc.instance_id == instance_id))




def _available(node: models.ComputeNode, placed: tuple[int, int],
               since: tuple[int, int]) -> float | None:
    """The node's reported MemAvailable less the guest memory and overhead of what is
    placed there (`placed`: guest memory, instances) that the report does not account
    for: beyond the instances the agent counted, or, for an agent that does not say,
    those placed since the report (`since`). None if it never reported one."""
    if node.memory_available_mb is None:
        return None
    memory, count = since
    if node.counted_instances is not None and node.counted_memory_mb is not None:
        memory = max(0, placed[0] - node.counted_memory_mb)
        count = max(0, placed[1] - node.counted_instances)
    return node.memory_available_mb - memory - count * node.memory_overhead_mb
