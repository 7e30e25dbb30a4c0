"""The conductor: owns the database on behalf of the agents and drives every build.

build: schedule (the scheduler claims room on a host) -> record the host -> cast the
build to that host's agent -> record the outcome it reports. A failed build is
tried on another host, up to ``max_build_attempts``, then ends in ERROR with a fault
that says why. Every method here may run twice for one message (casts are at least
once): each change is a conditional update that a second run finds already made.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from labs.common.db import Database, affected
from labs.common.errors import LabsError
from labs.compute import models, states
from labs.compute.actions import finish_event
from labs.compute.conductor.live_migration import LiveMigrations
from labs.compute.conductor.metadata import find_instance_metadata
from labs.compute.conductor.moves import ConductorMoves
from labs.compute.conductor.shelving import ShelveConductor
from labs.compute.config import ComputeOptions
from labs.compute.instance_network import InstanceNetworking, wants_network
from labs.compute.instances import mark_deleted
from labs.compute.payloads import BuildSpec, ExpectedInstance, utcnow
from labs.compute.rpcapi import AGENT_BINARY, AgentAPI, SchedulerAPI
from labs.network.floating_ips import floating_id_of
from labs.network.service import NetworkService

log = logging.getLogger("labs.compute.conductor.manager")
#: Identity's access record of a project as a JSON dict, or None for no such project.
AccessProvider = Callable[[str], dict[str, Any] | None]
Inst, Alloc, Node, Svc = models.Instance, models.Allocation, models.ComputeNode, models.Service
BUILD_EVENT = "compute__do_build_and_run_instance"


class Conductor(ShelveConductor, ConductorMoves):
    """Served on the ``conductor`` topic (shelving: see ShelveConductor; resizes and
    cold migrations: conductor.moves)."""

    def __init__(self, db: Database, options: ComputeOptions, scheduler: SchedulerAPI,
                 agents: AgentAPI, network: NetworkService,
                 access: AccessProvider | None = None) -> None:
        self.db = db
        self.access = access  # identity's, wired in; without: no accounts on VMs
        self.options = options
        self.scheduler = scheduler
        self.agents = agents
        self.networking = InstanceNetworking(db, network)
        self.live_migrations = LiveMigrations(db, scheduler, agents, self.networking)
        #: Why a build being retried failed last ({instance id: "host: error"}), so that
        #: a retry that finds no host still says what went wrong.
        self._last_errors: dict[str, str] = {}

    # -- builds --------------------------------------------------------------------
    def build_instances(self, instance_ids: list[str]) -> None:
        with self.db.reading() as tx:
            waiting = list(tx.scalars(sa.select(Inst.id).where(
                Inst.id.in_(instance_ids), Inst.deleted.is_(False),
                Inst.vm_state == states.BUILDING, Inst.task_state == states.SCHEDULING)))
        if not waiting:
            return
        for instance_id, place in self.scheduler.select_destinations(waiting).items():
            if "host" in place:
                self._send_to_host(instance_id, place["host"], place["node"])
            else:
                last = self._last_errors.pop(instance_id, None)
                self._fail(instance_id, None, place["error"] + (
                    f" The build failed before on {last}" if last else ""))

    def _send_to_host(self, instance_id: str, host: str, node_id: str) -> None:
        net = None
        with self.db.reading() as tx:
            wanted = tx.get(Inst, instance_id)
            if wanted is not None:
                tx.expunge(wanted)
        if wanted is not None and wants_network(wanted):
            try:
                net = self.networking.prepare(wanted)
            except LabsError as exc:
                self._unplace(instance_id, node_id, str(exc))
                return
        error: str | None = None
        with self.db.transaction() as tx:
            zone = tx.scalar(sa.select(Svc.availability_zone).join(Node, Node.service_id == Svc.id)
                             .where(Node.id == node_id)) or self.options.default_availability_zone
            placed = tx.execute(
                sa.update(Inst).where(Inst.id == instance_id, Inst.deleted.is_(False),
                                   Inst.task_state == states.SCHEDULING)
                .values(host=host, node=host, availability_zone=zone,
                        task_state=states.SPAWNING, attempts=Inst.attempts + 1,
                        updated_at=utcnow()))
            if not affected(placed):
                # deleted (or placed by a twin of this message) meanwhile
                row = tx.get(Inst, instance_id)
                if row is None or row.deleted or row.host != host:
                    tx.execute(sa.delete(Alloc).where(Alloc.instance_id == instance_id,
                                                  Alloc.node_id == node_id))
                    return
            row = tx.get(Inst, instance_id)
            assert row is not None
            spec = BuildSpec.of_instance(row)
            if net is not None:
                try:  # every NIC or none: a failed one leaves no port of the others
                    with tx.begin_nested():
                        spec = spec.with_network(self.networking.allocate(tx, row, net))
                except LabsError as exc:
                    error = str(exc)
        if error is not None:
            self._unplace(instance_id, node_id, error)
            return
        self.agents.build_instance(host, spec)

    def _unplace(self, instance_id: str, node_id: str, message: str) -> None:
        """The instance cannot get a network: give back its claim, end in ERROR."""
        with self.db.transaction() as tx:
            tx.execute(sa.delete(Alloc).where(Alloc.instance_id == instance_id,
                                              Alloc.node_id == node_id))
        self._fail(instance_id, None, message)

    def build_done(self, instance_id: str, host: str, error: str | None = None,
                   power_state: int = 0, addresses: dict[str, Any] | None = None) -> None:
        if error:
            self._build_failed(instance_id, host, error)
            return
        self._last_errors.pop(instance_id, None)
        with self.db.transaction() as tx:
            done = tx.execute(
                sa.update(Inst).where(Inst.id == instance_id, Inst.host == host,
                                      Inst.deleted.is_(False), Inst.vm_state == states.BUILDING,
                                   Inst.task_state == states.SPAWNING)
                # addresses stay as the conductor recorded them (a floating IP may have
                # been added while the server was building)
                .values(vm_state=states.ACTIVE, task_state=None, power_state=power_state,
                        launched_at=utcnow(), updated_at=utcnow()))
            if affected(done):
                finish_event(tx, instance_id, "create", BUILD_EVENT, host)
                self.networking.ports_plugged(tx, instance_id, True, host)
            row = tx.get(Inst, instance_id) if affected(done) else None
            project_id = row.project_id if row is not None and wants_network(row) else None
        if project_id is not None:
            self._refresh_project(project_id)

    def _refresh_project(self, project_id: str) -> None:
        """A member joined or left the project's groups: its hosts refresh the rules that
        name groups."""
        with self.db.reading() as tx:
            hosts = self.networking.hosts_of_project(tx, project_id)
        for host, instance_ids in hosts.items():
            try:
                self.agents.refresh_network(host, instance_ids)
            except Exception as exc:
                log.warning("could not ask %s to refresh its network rules: %s", host, exc)

    def _build_failed(self, instance_id: str, host: str, error: str) -> None:
        with self.db.transaction() as tx:
            row = tx.get(Inst, instance_id, with_for_update=True)
            if (row is None or row.deleted or row.host != host
                    or row.task_state != states.SPAWNING):
                return
            tx.execute(sa.delete(Alloc).where(Alloc.instance_id == instance_id))
            finish_event(tx, instance_id, "create", BUILD_EVENT, host, error)
            row.failed_hosts = [*(row.failed_hosts or []), host]
            row.host = row.node = None
            row.updated_at = utcnow()
            if row.attempts >= self.options.max_build_attempts:
                row.vm_state, row.task_state = states.ERROR, None
                row.fault = fault(f"Exceeded maximum number of retries. Exhausted all hosts "
                                  f"available for retrying build failures for instance "
                                  f"{instance_id}. Last error on {host}: {error}")
                log.warning("build of %s failed on %s, no more retries: %s",
                            instance_id, host, error)
                return
            row.task_state = states.SCHEDULING
        log.info("build of %s failed on %s, trying another host: %s", instance_id, host, error)
        if len(self._last_errors) > 10000:  # only a bound; entries leave when used
            self._last_errors.clear()
        self._last_errors[instance_id] = f"{host}: {error}"
        self.build_instances([instance_id])

    def _fail(self, instance_id: str, host: str | None, message: str) -> None:
        with self.db.transaction() as tx:
            failed = tx.execute(
                sa.update(Inst).where(Inst.id == instance_id, Inst.deleted.is_(False),
                                   Inst.vm_state == states.BUILDING)
                .values(vm_state=states.ERROR, task_state=None, fault=fault(message),
                        updated_at=utcnow()))
            if affected(failed):
                finish_event(tx, instance_id, "create", "conductor_schedule_and_build_instances",
                             host, message)
        log.warning("build of %s failed: %s", instance_id, message)

    # -- live migration (see conductor.live_migration) -----------------------------
    def live_migrate_instance(self, instance_id: str, migration_id: str,
                              host: str | None, force: bool = False) -> None:
        self.live_migrations.start(instance_id, migration_id, host, force)

    def live_migration_done(self, instance_id: str, migration_id: str, host: str,
                            error: str | None = None,
                            stats: dict[str, int] | None = None) -> None:
        self.live_migrations.done(instance_id, migration_id, host, error, stats)

    # -- power operations and deletes ----------------------------------------------
    def action_done(self, instance_id: str, host: str, action: str, power_state: int,
                    error: str | None = None) -> None:
        # what the action leaves the server in (a snapshot leaves it as it was)
        vm_state = {"stop": states.STOPPED, "start": states.ACTIVE, "reboot": states.ACTIVE,
                    "rebuild": states.ACTIVE, "pause": states.PAUSED,
                    "unpause": states.ACTIVE}.get(action)
        with self.db.transaction() as tx:
            row = tx.get(Inst, instance_id, with_for_update=True)
            if row is None or row.deleted or row.host != host:
                return
            if row.task_state == states.DELETING:
                return
            row.power_state, row.task_state, row.updated_at = power_state, None, utcnow()
            if error is None and vm_state is not None:
                row.vm_state = vm_state
                # a paused VM keeps its ports up, as Neutron shows them under Nova
                self.networking.ports_plugged(tx, instance_id, vm_state != states.STOPPED)
            finish_event(tx, instance_id, action, f"compute_{action}_instance", host, error)

    def power_state_seen(self, instance_id: str, host: str, power_state: int) -> None:
        """An agent found an instance's power other than recorded (after a restart, say):
        record it; an ACTIVE server whose VM is off becomes SHUTOFF (Nova's power state
        sync), unless an operation is under way."""
        with self.db.transaction() as tx:
            row = tx.get(Inst, instance_id, with_for_update=True)
            if row is None or row.deleted or row.host != host or row.task_state is not None:
                return
            if row.power_state == power_state:
                return
            log.info("instance %s on %s: power state %s, recorded %s", instance_id, host,
                     power_state, row.power_state)
            row.power_state, row.updated_at = power_state, utcnow()
            if row.vm_state in (states.ACTIVE, states.PAUSED) and power_state in (
                    states.NOSTATE, states.SHUTDOWN, 6):  # 6: crashed
                row.vm_state = states.STOPPED
                self.networking.ports_plugged(tx, instance_id, False)

    def instance_deleted(self, instance_id: str, host: str) -> None:
        with self.db.transaction() as tx:
            gone = mark_deleted(tx, instance_id)
            finish_event(tx, instance_id, "delete", "compute_terminate_instance", host)
            row = tx.get(Inst, instance_id) if gone else None
            project_id = row.project_id if row is not None and wants_network(row) else None
        self.drop_moves(instance_id)
        if project_id is not None:
            self._refresh_project(project_id)

    # -- agents --------------------------------------------------------------------
    def register_agent(self, host: str, zone: str, resources: dict[str, Any]) -> list[
            dict[str, Any]]:
        now = utcnow()
        with self.db.transaction() as tx:
            service = self._service(tx, host, AGENT_BINARY, zone or
                                    self.options.default_availability_zone)
            service.availability_zone = zone or self.options.default_availability_zone
            node = tx.scalars(sa.select(Node).where(Node.host == host)).first()
            if node is None:
                node = Node(id=str(uuid.uuid4()), host=host, service_id=service.id,
                         cpu_allocation_ratio=self.options.cpu_allocation_ratio,
                         ram_allocation_ratio=self.options.ram_allocation_ratio,
                         disk_allocation_ratio=self.options.disk_allocation_ratio)
                tx.add(node)
            node.service_id = service.id
            node.hypervisor_hostname = resources["hypervisor_hostname"]
            node.hypervisor_type = resources["hypervisor_type"]
            node.hypervisor_version = int(resources["hypervisor_version"])
            node.host_ip = resources["host_ip"]
            node.vcpus = int(resources["vcpus"])
            node.memory_mb = int(resources["memory_mb"])
            node.local_gb = int(resources["disk_gb"])
            _record_memory(node, resources, now)
            node.updated_at = now
            rows = list(tx.scalars(sa.select(Inst).where(Inst.host == host,
                                                         Inst.deleted.is_(False))))
            networks = self.networking.specs(tx, rows)
            expected = [ExpectedInstance(BuildSpec.of_instance(r, networks.get(r.id)),
                                         r.vm_state, r.task_state) for r in rows]
        log.info("agent %s registered (%d instances expected there)", host, len(expected))
        return [instance.to_message() for instance in expected]

    def network_specs(self, instance_ids: list[str]) -> dict[str, dict[str, Any]]:
        """What the agent plugs for each of these instances (its address, security rules
        and floating IPs, as now): asked for when rules or floating IPs change."""
        with self.db.reading() as tx:
            rows = list(tx.scalars(sa.select(Inst).where(Inst.id.in_(instance_ids),
                                                         Inst.deleted.is_(False))))
            return self.networking.specs(tx, rows)

    def instance_metadata(self, network_id: str, fixed_ip: str) -> dict[str, Any] | None:
        """For the metadata service: the instance at `fixed_ip` on `network_id`."""
        with self.db.reading() as tx:
            return find_instance_metadata(tx, self.networking.network, network_id, fixed_ip)

    def project_access(self, project_id: str) -> dict[str, Any] | None:
        """For the metadata service: who may log into the project's VMs."""
        if self.access is None or not isinstance(project_id, str):
            return None
        return self.access(project_id)

    def list_live_instances(self) -> list[dict[str, Any]]:
        """The instances not deleted that have a fixed address, with their names and
        floating IPs (for the DNS sink's reconciler); the addresses come from the network
        service."""
        network = self.networking.network
        with self.db.reading() as tx:
            rows = list(tx.execute(sa.select(Inst.id, Inst.hostname, Inst.project_name)
                                   .where(Inst.deleted.is_(False)).order_by(Inst.id)))
            ids = [r.id for r in rows]
            fixed = network.fixed_ips.of_instances(tx, ids)
            floating = network.floating_ips.of_instances(tx, ids)
        return [{"id": r.id, "hostname": r.hostname, "project_name": r.project_name or "",
                 "addresses": [fixed[r.id].address],
                 "floating": [f.address for f in floating.get(r.id, [])]}
                for r in rows if r.id in fixed]

    def list_floating_ips(self, project_id: str | None) -> list[dict[str, Any]]:
        """The floating IPs allocated to `project_id` (any project's when None), with the
        network API's ids (for the DNS service's PTR records of floating IPs)."""
        found = self.networking.network.floating_ips.list_allocated(
            project_id, every_project=project_id is None)
        return [{"id": floating_id_of(f.id), "address": f.address, "project_id": f.project_id}
                for f in found]

    def heartbeat(self, host: str, binary: str,
                  resources: dict[str, Any] | None = None) -> None:
        """The service is alive; an agent's heartbeat may also carry its host resources
        (older agents send none), of which the memory figures are recorded."""
        with self.db.transaction() as tx:
            self._service(tx, host, binary, self.options.default_availability_zone)
            if resources:
                node = tx.scalars(sa.select(Node).where(Node.host == host)).first()
                if node is not None:
                    _record_memory(node, resources, utcnow())

    def _service(self, tx: Any, host: str, binary: str, zone: str) -> models.Service:
        now = utcnow()
        row: models.Service | None = tx.scalars(
            sa.select(Svc).where(Svc.host == host, Svc.binary == binary)).first()
        if row is None:
            row = Svc(id=str(uuid.uuid4()), host=host, binary=binary, availability_zone=zone,
                    created_at=now)
            tx.add(row)
        row.last_seen = row.updated_at = now
        return row

    # -- housekeeping --------------------------------------------------------------
    def redrive_stuck_builds(self) -> int:
        """Builds with no news for ``stuck_build_seconds`` (a lost message, a crash in
        the middle): schedule again, or send again to the host (its agent skips a
        build it already did). Returns how many were driven again."""
        before = utcnow() - timedelta(seconds=self.options.stuck_build_seconds)
        with self.db.reading() as tx:
            stuck = list(tx.execute(sa.select(Inst.id, Inst.host, Inst.node).where(
                Inst.deleted.is_(False), Inst.vm_state == states.BUILDING,
                Inst.updated_at < before)))
        unplaced = [row.id for row in stuck if row.host is None]
        if unplaced:
            self.build_instances(unplaced)
        for row in stuck:
            if row.host is not None:
                with self.db.transaction() as tx:
                    tx.execute(sa.update(Inst).where(Inst.id == row.id).values(updated_at=utcnow()))
                    instance = tx.get(Inst, row.id)
                    spec = None if instance is None else BuildSpec.of_instance(
                        instance, self.networking.specs(tx, [instance]).get(instance.id))
                if spec is not None:
                    self.agents.build_instance(row.host, spec)
        if stuck:
            log.info("drove %d stuck builds again", len(stuck))
        return len(stuck)


def fault(message: str, code: int = 500) -> dict[str, Any]:
    return {"code": code, "message": message[:255], "details": message,
            "created": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}



def _record_memory(node: models.ComputeNode, resources: dict[str, Any], now: Any) -> None:
    """The memory figures of an agent's report (each optional: older agents lack them)."""
    node.memory_mb = int(resources.get("memory_mb", node.memory_mb))
    node.reserved_memory_mb = int(resources.get("reserved_memory_mb") or 0)
    node.memory_overhead_mb = int(resources.get("memory_overhead_mb") or 0)
    available = resources.get("memory_available_mb")
    node.memory_available_mb = None if available is None else int(available)
    node.memory_reported_at = now
    count, memory = resources.get("counted_instances"), resources.get("counted_memory_mb")
    if available is None or count is None or memory is None:
        node.counted_instances = node.counted_memory_mb = None
    else:
        node.counted_instances, node.counted_memory_mb = int(count), int(memory)
