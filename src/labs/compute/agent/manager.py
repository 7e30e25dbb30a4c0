"""The compute agent: one per host. Runs the virt driver, reports to the conductor.

It holds no database credentials: it learns what to do from casts on ``compute.<host>`` and
reports through the conductor. Every operation on one instance runs under its lock, in a
pool of worker threads (live migrations: see agent.live_migration). On start it registers
its hypervisor and reconciles: what the cloud expects on this host is compared with what
the driver runs (VMs outlive their agent), so builds and deletes a crash interrupted are
finished and leftovers cleaned up. Snapshots go through ``snapshot_dir`` (emptied at
start); the image cache is pruned."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from labs.common.bus import Bus, BusError
from labs.common.periodic import Periodic
from labs.compute import states
from labs.compute.agent.live_migration import LiveMigrationAgent, LiveMigrationWork
from labs.compute.agent.moves import AgentMoves
from labs.compute.agent.nics import attach_port, detach_gone, detach_port, nics_of, replug, unplug
from labs.compute.agent.resources import heartbeat_report, host_report
from labs.compute.agent.shelving import ShelvingAgent
from labs.compute.payloads import BuildSpec, ExpectedInstance, notification_payload, utcnow
from labs.compute.rpcapi import AGENT_BINARY, ConductorAPI, notify_instance
from labs.compute.virt.base import InstanceNotFound, InstanceSpec, Nic, VirtDriver, VirtError
from labs.network.agent.host import HostNetworking
from labs.network.instance_spec import InstancePort, ports_addresses, ports_of
from labs.network.specs import NetworkError

log = logging.getLogger("labs.compute.agent.manager")

class Agent(ShelvingAgent, AgentMoves, LiveMigrationAgent):
    """Served on ``compute.<host>`` (shelving and backups: see ShelvingAgent; resizes
    and cold migrations: agent.moves; live migrations: agent.live_migration)."""

    def __init__(self, host: str, zone: str, driver: VirtDriver, bus: Bus,
                 heartbeat_seconds: float = 10.0, workers: int = 16,
                 network: HostNetworking | None = None,
                 image_files: Callable[[str], str | None] | None = None,
                 snapshot_dir: Path | None = None, image_cache_seconds: float = 600.0, *,
                 reserved_memory_mb: int = 0, memory_cap_mb: int = 0) -> None:
        self.host = host
        #: None: a directory of this agent's own, made at start and removed at stop
        self.snapshot_dir = snapshot_dir
        self.image_cache_seconds = image_cache_seconds
        #: the memory the host keeps for itself, and the most it offers (0: all)
        self.memory_limits = (reserved_memory_mb, memory_cap_mb)
        #: Where an image's bytes are on this host (an image store on the same machine).
        self.image_files = image_files
        self.zone, self.driver, self.bus = zone, driver, bus
        self.network = network or HostNetworking(None)
        self.conductor = ConductorAPI(bus)
        self.heartbeat_seconds = heartbeat_seconds
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix=f"agent-{host}")
        self._locks, self._locks_guard = dict[str, threading.Lock](), threading.Lock()
        self._specs: dict[str, BuildSpec] = {}
        self._stopping = threading.Event()
        self._heartbeat: Periodic | None = None
        self._image_cache: Periodic | None = None
        self._own_snapshot_dir = False
        self.live_migrations = LiveMigrationWork(self)

    # -- life cycle ----------------------------------------------------------------
    def start(self, register_timeout: float = 10.0) -> None:
        """Register with the conductor (waiting for one to answer), reconcile, then
        heartbeat and bound the image cache in the background."""
        if self.snapshot_dir is None:
            self.snapshot_dir = Path(tempfile.mkdtemp(prefix=f"labs-snapshots-{self.host}-"))
            self._own_snapshot_dir = True
        elif self.snapshot_dir.exists():  # snapshots cut short by a crash: none goes on
            shutil.rmtree(self.snapshot_dir)
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        resources = host_report(self.driver, *self.memory_limits)
        while True:
            try:
                expected = self.conductor.register_agent(self.host, self.zone, resources,
                                                         timeout=register_timeout)
                break
            except BusError as exc:
                log.warning("%s: no conductor answered (%s); trying again", self.host, exc)
                if self._stopping.wait(1.0):
                    return
        self.network.start()
        self.reconcile(expected)
        self._heartbeat = Periodic(f"agent-{self.host}-beat", self.heartbeat_seconds,
                                   self._beat, what=f"heartbeat of {self.host}",
                                   traceback=False)  # the bus reconnects; keep beating
        self._heartbeat.start()
        self._image_cache = Periodic(f"agent-{self.host}-images", self.image_cache_seconds,
                                     self.driver.manage_image_cache, run_at_start=True,
                                     what=f"image cache clean-up of {self.host}")
        self._image_cache.start()

    def stop(self) -> None:
        self._stopping.set()
        for task in (self._heartbeat, self._image_cache):
            if task is not None:
                task.stop(timeout=5)
        self.pool.shutdown(wait=True, cancel_futures=False)
        self.driver.close()
        self.network.close()
        if self._own_snapshot_dir and self.snapshot_dir is not None:
            shutil.rmtree(self.snapshot_dir, ignore_errors=True)

    def _beat(self) -> None:
        self.conductor.heartbeat(self.host, AGENT_BINARY,
                                 heartbeat_report(self.driver, *self.memory_limits))

    def reconcile(self, expected: list[ExpectedInstance]) -> None:
        running = {info.id: info for info in self.driver.list_instances()}
        for wanted in expected:
            spec = wanted.spec
            self._specs[spec.id] = spec
            iid, vm_state, task = spec.id, wanted.vm_state, wanted.task_state
            if task == states.DELETING:
                self._submit(iid, self._delete, iid)
            elif vm_state == states.BUILDING:
                self._submit(iid, self._build, spec)
            elif task == states.POWERING_OFF:
                self._submit(iid, self._stop, iid)
            elif task == states.POWERING_ON:
                self._submit(iid, self._start, iid)
            elif task in (states.REBOOTING, states.REBOOTING_HARD):
                self._submit(iid, self._reboot, iid, task == states.REBOOTING_HARD)
            elif task == states.REBUILDING:
                self._submit(iid, self._rebuild, spec)
            elif task in (states.PAUSING, states.UNPAUSING):
                self._submit(iid, self._pause, iid, task == states.PAUSING)
            elif task in (states.IMAGE_SNAPSHOT, states.IMAGE_BACKUP):  # token may be gone
                self._submit(iid, self._report, iid, "createImage" if task == states.
                             IMAGE_SNAPSHOT else "createBackup", "the agent restarted "
                             "during the snapshot; take it again")
            elif task in (states.SHELVING, states.SHELVING_OFFLOADING):
                self._submit(iid, self._shelve_cut_short, iid, task)
        known = {wanted.spec.id for wanted in expected}
        for wanted in expected:  # VMs that stopped or died while no agent watched
            info = running.get(wanted.spec.id)
            if info is not None and not wanted.task_state \
                    and wanted.vm_state in (states.ACTIVE, states.STOPPED, states.PAUSED):
                self.conductor.power_state_seen(wanted.spec.id, self.host,
                                                int(info.power_state))
        for wanted in expected:  # rules and floating IPs may have changed meanwhile
            iid, network = wanted.spec.id, wanted.spec.network
            if network and iid in running and not wanted.task_state:
                self._submit(iid, self._apply_network, iid, network, None)
        ports = {port.port_id for wanted in expected for port in ports_of(wanted.spec.network)}
        for port_id in self.network.plugged() - ports - known - running.keys():
            log.info("%s: port %s is not expected here any more: unplugging it",
                     self.host, port_id)
            self._submit(port_id, self.network.unplug, port_id)
        for iid in running.keys() - known:
            log.info("%s: instance %s is not expected here any more: destroying it",
                     self.host, iid)
            self._submit(iid, self._destroy_leftover, iid)
        log.info("%s reconciled: %d expected, %d running", self.host, len(expected),
                 len(running))

    # -- what the bus delivers -------------------------------------------------------
    def build_instance(self, spec: dict[str, Any]) -> None:
        build = BuildSpec.from_message(spec)
        self._specs[build.id] = build
        self._submit(build.id, self._build, build)

    def reboot_instance(self, instance_id: str, hard: bool) -> None:
        self._submit(instance_id, self._reboot, instance_id, hard)

    def rebuild_instance(self, spec: dict[str, Any]) -> None:
        build = BuildSpec.from_message(spec)
        self._specs[build.id] = build
        self._submit(build.id, self._rebuild, build)

    def snapshot_instance(self, instance_id: str, image_id: str, image_url: str,
                          token: str) -> None:
        self._submit(instance_id, self._snapshot, instance_id, image_id, image_url, token)

    def stop_instance(self, instance_id: str) -> None:
        self._submit(instance_id, self._stop, instance_id)

    def start_instance(self, instance_id: str) -> None:
        self._submit(instance_id, self._start, instance_id)

    def pause_instance(self, instance_id: str) -> None:
        self._submit(instance_id, self._pause, instance_id, True)

    def unpause_instance(self, instance_id: str) -> None:
        self._submit(instance_id, self._pause, instance_id, False)

    def delete_instance(self, instance_id: str) -> None:
        self._submit(instance_id, self._delete, instance_id)

    def refresh_network(self, instance_ids: list[str]) -> None:
        if self.network.driver is None:
            return  # user-mode networks enforce no rules and carry no floating IPs
        mine = [iid for iid in instance_ids if self._network_of(iid)]
        if mine:  # asking the conductor is a call: not on the bus's delivering thread
            self.pool.submit(self._refresh_network, mine)

    def _refresh_network(self, instance_ids: list[str]) -> None:
        try:
            networks = self.conductor.network_specs(instance_ids)
        except BusError as exc:
            log.warning("%s: could not refresh the network of %d instances: %s",
                        self.host, len(instance_ids), exc)
            return
        for iid in instance_ids:  # one left out has no port any more (or is gone)
            before = self._network_of(iid)
            if iid in networks or before:
                self._submit(iid, self._apply_network, iid, networks.get(iid), before)

    def _network_of(self, instance_id: str) -> dict[str, Any] | None:
        spec = self._specs.get(instance_id)
        return spec.network if spec is not None else None

    def console_output(self, instance_id: str, length: int | None) -> str:
        return self.driver.console_output(instance_id, length)

    def attach_interface(self, instance_id: str, port: dict[str, Any]) -> None:
        """Plug one more port for the instance and give its VM the NIC (hot-plugged
        when it runs); a call: the caller learns of a failure (NetworkError, VirtError),
        and then nothing of it is left on the host."""
        with self._lock(instance_id):
            attach_port(self.network, self.driver, self._specs, instance_id,
                        InstancePort.from_message(port))

    def detach_interface(self, instance_id: str, port_id: str) -> None:
        """Take the NIC of the port (by the id the host knows it by) from the VM and
        unplug it; a call."""
        with self._lock(instance_id):
            detach_port(self.network, self.driver, self._specs, instance_id, port_id)

    # -- the work, one instance at a time --------------------------------------------
    def _submit(self, instance_id: str, work: Callable[..., None], *args: Any) -> None:
        def locked() -> None:
            with self._lock(instance_id):
                try:
                    work(*args)
                except Exception:
                    log.exception("%s: %s of %s failed", self.host, work.__name__, instance_id)
        self.pool.submit(locked)

    def _lock(self, instance_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(instance_id, threading.Lock())

    def _notify(self, event: str, spec: BuildSpec | None, instance_id: str, state: str,
                task_state: str | None = None, **extra: Any) -> None:
        payload = (notification_payload(spec, self.host, state, task_state, **extra)
                   if spec else {"instance_id": instance_id, "host": self.host,
                                 "state": state, "state_description": task_state or ""})
        notify_instance(self.bus, event, payload, f"compute.{self.host}")

    def _build(self, spec: BuildSpec) -> None:
        iid = spec.id
        try:
            power = self.driver.power_state(iid)
        except InstanceNotFound:
            pass
        else:  # built before a crash or a redelivery: adopt it
            self.conductor.build_done(iid, self.host, power_state=int(power), addresses={})
            return
        self._notify("create.start", spec, iid, states.BUILDING, states.SPAWNING,
                     image_name=spec.image_id)
        ports = ports_of(spec.network)
        try:
            nics = nics_of(self.network.plug_all(ports))
        except NetworkError as exc:
            self._notify("create.error", spec, iid, states.BUILDING, states.SPAWNING,
                         message=str(exc), code=500, exception=type(exc).__name__)
            self.conductor.build_done(iid, self.host, error=f"network: {exc}")
            return
        try:
            self.driver.spawn(self._instance_spec(spec, nics))
        except VirtError as exc:
            self.network.unplug_all([port.port_id for port in ports])
            self._notify("create.error", spec, iid, states.BUILDING, states.SPAWNING,
                         message=str(exc), code=500, exception=type(exc).__name__)
            self.conductor.build_done(iid, self.host, error=str(exc))
            return
        addresses = ports_addresses(ports)
        self._notify("create.end", spec, iid, states.ACTIVE, addresses=addresses,
                     launched_at=utcnow(), message="Success")
        self.conductor.build_done(iid, self.host, power_state=int(
            self.driver.power_state(iid)), addresses=addresses)

    def _rebuild(self, spec: BuildSpec) -> None:
        iid = spec.id
        self._notify("rebuild.start", spec, iid, states.ACTIVE, states.REBUILDING)
        self.driver.destroy(iid)
        try:
            nics = nics_of(self.network.plug_all(ports_of(spec.network)))
        except NetworkError as exc:
            error: str | None = f"network: {exc}"
        else:
            error = self._power(lambda: self.driver.spawn(self._instance_spec(spec, nics)))
        self._notify("rebuild.end", spec, iid, states.ACTIVE)
        self._report(iid, "rebuild", error)

    def _instance_spec(self, spec: BuildSpec, nics: tuple[Nic, ...] = ()) -> InstanceSpec:
        """What the virt driver boots for ``spec``, on the ports plugged for it."""
        image_path = self.image_files(spec.image_id) if self.image_files else None
        return InstanceSpec(
            id=spec.id, name=spec.name, hostname=spec.hostname,
            project_id=spec.project_id, vcpus=spec.vcpus, memory_mb=spec.memory_mb,
            disk_gb=spec.disk_gb, image_id=spec.image_id, image_path=image_path,
            user_data=spec.user_data, key_data=spec.key_data,
            metadata=spec.metadata, project_name=spec.project_name,
            dns_domain=(spec.network or {}).get("domain", ""), nics=nics)

    def _apply_network(self, instance_id: str, network: dict[str, Any] | None,
                       before: dict[str, Any] | None) -> None:
        """Apply the instance's ports as they are now; a port it had and has no more
        (deleted through the network API: its address may go to another server) leaves
        its VM and this host."""
        had = {port.port_id: port for port in ports_of(before)}
        try:
            for port in ports_of(network):
                self.network.apply(port, had.get(port.port_id))
            detach_gone(self.network, self.driver, self._specs, instance_id, before, network)
        except (NetworkError, VirtError) as exc:
            log.warning("%s: network of %s not updated: %s", self.host, instance_id, exc)
            return
        spec = self._specs.get(instance_id)
        if spec is not None:
            self._specs[instance_id] = spec.with_network(network)

    def _reboot(self, instance_id: str, hard: bool) -> None:
        spec = self._specs.get(instance_id)
        self._notify("reboot.start", spec, instance_id, states.ACTIVE,
                     states.REBOOTING_HARD if hard else states.REBOOTING)
        error = self._power(lambda: self.driver.reboot(instance_id, hard))
        self._notify("reboot.end", spec, instance_id, states.ACTIVE)
        self._report(instance_id, "reboot", error)

    def _stop(self, instance_id: str) -> None:
        spec = self._specs.get(instance_id)
        self._notify("power_off.start", spec, instance_id, states.ACTIVE, states.POWERING_OFF)
        error = self._power(lambda: self.driver.power_off(instance_id))
        self._notify("power_off.end", spec, instance_id, states.STOPPED)
        self._report(instance_id, "stop", error)

    def _start(self, instance_id: str) -> None:
        spec = self._specs.get(instance_id)
        self._notify("power_on.start", spec, instance_id, states.STOPPED, states.POWERING_ON)
        error = replug(self.network, self._network_of(instance_id)) or self._power(
            lambda: self.driver.power_on(instance_id))
        self._notify("power_on.end", spec, instance_id, states.ACTIVE)
        self._report(instance_id, "start", error)

    def _pause(self, instance_id: str, pause: bool) -> None:
        spec, action = self._specs.get(instance_id), "pause" if pause else "unpause"
        before, task, after = ((states.ACTIVE, states.PAUSING, states.PAUSED) if pause
                               else (states.PAUSED, states.UNPAUSING, states.ACTIVE))
        self._notify(f"{action}.start", spec, instance_id, before, task)
        error = self._power(lambda: getattr(self.driver, action)(instance_id))
        self._notify(f"{action}.end", spec, instance_id, after)
        self._report(instance_id, action, error)

    @staticmethod
    def _power(operation: Callable[[], None]) -> str | None:
        try:
            operation()
        except VirtError as exc:
            return str(exc) or type(exc).__name__
        return None

    def _report(self, instance_id: str, action: str, error: str | None) -> None:
        try:
            power = int(self.driver.power_state(instance_id))
        except InstanceNotFound:
            power = states.NOSTATE
        self.conductor.action_done(instance_id, self.host, action, power, error)

    def _delete(self, instance_id: str) -> None:
        spec = self._specs.get(instance_id)
        self._notify("delete.start", spec, instance_id, states.ACTIVE, states.DELETING)
        self.driver.destroy(instance_id)
        unplug(self.network, self._network_of(instance_id), instance_id)
        self._notify("delete.end", spec, instance_id, states.DELETED)
        self.conductor.instance_deleted(instance_id, self.host)
        self._specs.pop(instance_id, None)

    def _destroy_leftover(self, instance_id: str) -> None:
        self.driver.destroy(instance_id)
        unplug(self.network, self._network_of(instance_id), instance_id)
