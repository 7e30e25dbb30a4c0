"""Hosts as admins see them: compute services, hypervisors and availability zones.

Each agent registers a ``nova-compute`` service and the compute node behind it (see
``Conductor.register_agent``); its heartbeat keeps the service up. What a node has
in use is the sum of the allocations (the scheduler's claims) on it.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.common.errors import BadRequest, Conflict, NotFound
from labs.common.numbers import is_digits
from labs.compute import models
from labs.compute.config import ComputeOptions
from labs.compute.payloads import utcnow
from labs.compute.rpcapi import AGENT_BINARY, is_up

Svc, Node, Alloc, Inst = models.Service, models.ComputeNode, models.Allocation, models.Instance


def legacy_id(row_id: str) -> int:
    """The integer id services and hypervisors had before microversion 2.53: a hash
    of the uuid, so it is stable without a column of its own."""
    return zlib.crc32(row_id.encode()) & 0x7FFFFFFF


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _check_updatable(binary: str) -> None:
    if binary != AGENT_BINARY:
        raise BadRequest(f"Updating a {binary} service is not supported. Only "
                         f"{AGENT_BINARY} services can be updated.")


@dataclass(frozen=True)
class ServiceView:
    row: models.Service
    up: bool


@dataclass(frozen=True)
class HypervisorView:
    node: models.ComputeNode
    service: ServiceView
    vcpus_used: int = 0
    memory_mb_used: int = 0
    local_gb_used: int = 0
    running_vms: int = 0
    #: (id, name) of the servers on the host, when asked for
    servers: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class ZoneView:
    name: str
    available: bool
    #: host -> the services on it (enabled ones only, as Nova lists them)
    hosts: dict[str, list[ServiceView]]


class HostService:
    def __init__(self, db: Database, options: ComputeOptions) -> None:
        self.db = db
        self.options = options

    def _down_before(self) -> datetime:
        return utcnow() - timedelta(seconds=self.options.service_down_seconds)

    # -- services ------------------------------------------------------------------
    def list_services(self, host: str | None = None, binary: str | None = None
                      ) -> list[ServiceView]:
        query = sa.select(Svc).order_by(Svc.host, Svc.binary)
        if host:
            query = query.where(Svc.host == host)
        if binary:
            query = query.where(Svc.binary == binary)
        with self.db.reading() as tx:
            rows = list(tx.scalars(query))
        down_before = self._down_before()
        return [ServiceView(r, is_up(r, down_before)) for r in rows]

    @staticmethod
    def _service(tx: Session, service_id: str) -> models.Service:
        row = tx.get(Svc, service_id)
        if row is None and is_digits(service_id):
            row = next((r for r in tx.scalars(sa.select(Svc))
                        if legacy_id(r.id) == int(service_id)), None)
        if row is None:
            raise NotFound(f"Service {service_id} could not be found.")
        return row

    def update_by_host(self, host: str, binary: str, changes: dict[str, Any]) -> ServiceView:
        """:meth:`update_service` for the service named the pre-2.53 way."""
        _check_updatable(binary)
        with self.db.reading() as tx:
            service_id = tx.scalars(sa.select(Svc.id).where(Svc.host == host,
                                                            Svc.binary == binary)).first()
        if service_id is None:
            raise NotFound(f"Host '{host}' with binary '{binary}' not found.")
        return self.update_service(service_id, changes)

    def update_service(self, service_id: str, changes: dict[str, Any]) -> ServiceView:
        """Apply ``status`` ("enabled"/"disabled"), ``disabled_reason``, ``forced_down``."""
        with self.db.transaction() as tx:
            row = self._service(tx, service_id)
            _check_updatable(row.binary)
            if "status" in changes:
                if changes["status"] == "enabled":
                    if changes.get("disabled_reason"):
                        raise BadRequest("Specifying 'disabled_reason' with status "
                                         "'enabled' is invalid.")
                    row.disabled, row.disabled_reason = False, None
                else:
                    row.disabled = True
                    row.disabled_reason = changes.get("disabled_reason")
            if "forced_down" in changes:
                row.forced_down = bool(changes["forced_down"])
            if "status" not in changes and "forced_down" not in changes:
                raise BadRequest("No updates were requested. Fields 'status' or "
                                 "'forced_down' should be specified.")
            row.updated_at = utcnow()
        return ServiceView(row, is_up(row, self._down_before()))

    def delete_service(self, service_id: str) -> None:
        """Forget a service and its compute node; refused while servers live there."""
        with self.db.transaction() as tx:
            row = self._service(tx, service_id)
            if row.binary == AGENT_BINARY:
                hosting = tx.scalar(sa.select(sa.func.count()).select_from(Inst).where(
                    Inst.host == row.host, Inst.deleted.is_(False)))
                if hosting:
                    raise Conflict("Unable to delete compute service that is hosting "
                                   "instances. Migrate or delete the instances first.")
                nodes = list(tx.scalars(sa.select(Node.id).where(Node.host == row.host)))
                if nodes:
                    tx.execute(sa.delete(Alloc).where(Alloc.node_id.in_(nodes)))
                    tx.execute(sa.delete(Node).where(Node.id.in_(nodes)))
            tx.delete(row)

    # -- hypervisors ---------------------------------------------------------------
    def list_hypervisors(self, *, pattern: str | None = None, limit: int | None = None,
                         marker: str | None = None, with_servers: bool = False
                         ) -> list[HypervisorView]:
        """Compute nodes by id; ``pattern`` matches part of the hypervisor hostname."""
        query = (sa.select(Node, Svc).join(Svc, Svc.id == Node.service_id)
                 .order_by(Node.id))
        if pattern is not None:
            query = query.where(Node.hypervisor_hostname.contains(pattern, autoescape=True))
        with self.db.reading() as tx:
            if marker is not None:
                marker_id = self._node(tx, marker).id
                query = query.where(Node.id > marker_id)
            if limit is not None:
                query = query.limit(limit)
            pairs = [(node, svc) for node, svc in tx.execute(query)]
            if pattern is not None and not pairs:
                raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
            return self._views(tx, pairs, with_servers)

    def get_hypervisor(self, node_id: str, with_servers: bool = False) -> HypervisorView:
        with self.db.reading() as tx:
            node = self._node(tx, node_id)
            service = tx.get(Svc, node.service_id)
            if service is None:
                raise NotFound(f"Hypervisor with ID '{node_id}' could not be found.")
            return self._views(tx, [(node, service)], with_servers)[0]

    @staticmethod
    def _node(tx: Session, node_id: str) -> models.ComputeNode:
        node = tx.get(Node, node_id)
        if node is None and is_digits(node_id):
            node = next((n for n in tx.scalars(sa.select(Node))
                         if legacy_id(n.id) == int(node_id)), None)
        if node is None:
            raise NotFound(f"Hypervisor with ID '{node_id}' could not be found.")
        return node

    def _views(self, tx: Session, pairs: list[tuple[models.ComputeNode, models.Service]],
               with_servers: bool) -> list[HypervisorView]:
        ids = [node.id for node, _ in pairs]
        used = {row[0]: row[1:] for row in tx.execute(
            sa.select(Alloc.node_id, sa.func.sum(Alloc.vcpus), sa.func.sum(Alloc.memory_mb),
                      sa.func.sum(Alloc.disk_gb), sa.func.count())
            .where(Alloc.node_id.in_(ids)).group_by(Alloc.node_id))}
        servers: dict[str, list[tuple[str, str]]] = {}
        if with_servers:
            for host, server_id, name in tx.execute(
                    sa.select(Inst.host, Inst.id, Inst.name)
                    .where(Inst.host.in_([n.host for n, _ in pairs]), Inst.deleted.is_(False))
                    .order_by(Inst.created_at)):
                servers.setdefault(host or "", []).append((server_id, name))
        down_before = self._down_before()
        views = []
        for node, service in pairs:
            v, m, d, n = used.get(node.id, (0, 0, 0, 0))
            views.append(HypervisorView(
                node, ServiceView(service, is_up(service, down_before)), int(v), int(m),
                int(d), int(n),
                tuple(servers.get(node.host, ())) if with_servers else None))
        return views

    def statistics(self) -> dict[str, int]:
        """Nova's totals over the nodes of enabled services."""
        views = [v for v in self.list_hypervisors() if not v.service.row.disabled]

        def total(value: Callable[[HypervisorView], int]) -> int:
            return sum(value(v) for v in views)

        free_disk = total(lambda v: v.node.local_gb - v.local_gb_used)
        return {"count": len(views), "vcpus": total(lambda v: v.node.vcpus),
                "memory_mb": total(lambda v: v.node.memory_mb),
                "local_gb": total(lambda v: v.node.local_gb),
                "vcpus_used": total(lambda v: v.vcpus_used),
                "memory_mb_used": total(lambda v: v.memory_mb_used),
                "local_gb_used": total(lambda v: v.local_gb_used),
                "free_ram_mb": total(lambda v: v.node.memory_mb - v.memory_mb_used),
                "free_disk_gb": free_disk, "disk_available_least": free_disk,
                "current_workload": 0, "running_vms": total(lambda v: v.running_vms)}

    # -- zones and liveness, also for the servers code -----------------------------
    def zones(self) -> list[ZoneView]:
        """The default zone and every agent's zone: available while an enabled agent
        is in it (the default zone always is); available ones first, by name."""
        agents = self.list_services(binary=AGENT_BINARY)
        available = {self.options.default_availability_zone}
        available |= {s.row.availability_zone for s in agents if not s.row.disabled}
        hosts: dict[str, dict[str, list[ServiceView]]] = {z: {} for z in available}
        for view in agents:
            if not view.row.disabled:
                hosts[view.row.availability_zone].setdefault(view.row.host, []).append(view)
        unavailable = {s.row.availability_zone for s in agents} - available
        return ([ZoneView(z, True, hosts[z]) for z in sorted(available)]
                + [ZoneView(z, False, {}) for z in sorted(unavailable)])

    def zone_names(self) -> set[str]:
        """The zones a server may ask for."""
        return {z.name for z in self.zones() if z.available}

    def hosts_up(self) -> set[str]:
        """Hosts whose agent heartbeated lately (and is not forced down)."""
        return {s.row.host for s in self.list_services(binary=AGENT_BINARY) if s.up}

    def is_up(self, host: str) -> bool:
        """Whether ``host``'s agent heartbeated lately (and is not forced down)."""
        return any(s.up for s in self.list_services(host=host, binary=AGENT_BINARY))

    # -- the deprecated os-hosts view ----------------------------------------------
    def host_usage(self, host: str) -> list[dict[str, Any]]:
        """Nova's ``os-hosts/<host>`` resources: the node's totals, what is claimed now,
        the sum over the servers on it, then that sum per project."""
        with self.db.reading() as tx:
            node = tx.scalars(sa.select(Node).where(Node.host == host).order_by(Node.id)).first()
            if node is None:
                raise NotFound(f"Compute host {host} could not be found.")
            view = self._views(tx, [(node, tx.get(Svc, node.service_id) or Svc())], False)[0]
            servers = list(tx.execute(
                sa.select(Inst.project_id, Inst.vcpus, Inst.memory_mb, Inst.disk_gb)
                .where(Inst.host == host, Inst.deleted.is_(False))))

        def resource(project: str, cpu: int, memory_mb: int, disk_gb: int) -> dict[str, Any]:
            return {"resource": {"host": host, "project": project, "cpu": cpu,
                                 "memory_mb": memory_mb, "disk_gb": disk_gb}}

        per_project: dict[str, list[int]] = {}
        for project, vcpus, memory_mb, disk_gb in servers:
            totals = per_project.setdefault(project, [0, 0, 0])
            for i, value in enumerate((vcpus, memory_mb, disk_gb)):
                totals[i] += int(value or 0)
        used_max = [sum(t[i] for t in per_project.values()) for i in range(3)]
        return [resource("(total)", node.vcpus, node.memory_mb, node.local_gb),
                resource("(used_now)", view.vcpus_used, view.memory_mb_used,
                         view.local_gb_used),
                resource("(used_max)", *used_max),
                *(resource(p, *t) for p, t in per_project.items())]
