"""The qemu driver: real VMs, one `qemu-system-x86_64` process per instance.

State lives in files, so that a new driver object (a restarted agent) finds and controls
the VMs an earlier one started: `<state dir>/instances/<id>/` holds the qcow2 overlay on
the cached image (`disk.qcow2`), the config drive, the serial console log, the QMP socket,
the pid file and `instance.json` (the spec and the ports and MAC addresses chosen for it,
all that is needed to start it again). Images are cached once per image id (see
qemu_images), and booted with their own kernel directly when they have one (3-5 s sooner
under software emulation).

Acceleration: KVM when it really runs a guest here (probed once, see
qemu_process.kvm_works), otherwise TCG software emulation; `accel` can force either. Power
operations (pause is QMP stop and cont) and crash dumps (an NMI) go through QMP
(qemu_monitor, which drains consoles).
A soft reboot is done as Nova's libvirt driver does it for guests without an agent: press
the ACPI power button, wait up to `soft_reboot_seconds` for the guest to power off, then
start it again; a guest that does not react gets a hard reset. A snapshot pauses the guest
while qemu-img copies the overlay (the copy is consistent as after a power cut), then lets
it run on. Networking: user-mode (slirp) nics with the guest's ssh port forwarded from a
free loopback port (`ssh_address`), or taps a network driver made, also hot-plugged.
Resizes and cold migrations: see qemu_moves.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from labs.common.host_tools import find_host_tool
from labs.compute.virt import qemu_console as console
from labs.compute.virt import qemu_memory as memory
from labs.compute.virt import qemu_migration as migration
from labs.compute.virt import qemu_nics
from labs.compute.virt import qemu_process as process
from labs.compute.virt import qemu_records as records
from labs.compute.virt import qemu_snapshot as snapshot
from labs.compute.virt.base import (
    HostResources,
    InstanceExists,
    InstanceInfo,
    InstanceNotFound,
    InstanceSpec,
    MigrationStats,
    MigrationTarget,
    Nic,
    PowerState,
    SpawnError,
    VirtDriver,
    VirtError,
)
from labs.compute.virt.configdrive import make_config_drive
from labs.compute.virt.qemu_images import ImageCache
from labs.compute.virt.qemu_monitor import QemuMonitor
from labs.compute.virt.qemu_moves import QemuMoves
from labs.compute.virt.qmp import QmpError

log = logging.getLogger("labs.compute.virt.qemu")
GIB = 1 << 30


class QemuDriver(QemuMoves, VirtDriver):
    """Runs instances as qemu processes; see the module docstring."""

    name: ClassVar[str] = "qemu"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"reboot", "power", "pause", "console_output", "snapshot", "interfaces",
         "live_migration", "crash_dump", "migrate"})

    def __init__(self, state_dir: Path, host: str, *, binary: str = "qemu-system-x86_64",
                 accel: str = "auto", vcpu_overcommit: float = 1.0,
                 soft_reboot_seconds: float = 60.0, image_cache: Path | None = None,
                 probe_kernel: Path | None = None, host_ip: str = "127.0.0.1",
                 console_max_bytes: int = 2 << 20, console_drain_seconds: float = 2.0,
                 image_cache_max_bytes: int | None = None) -> None:
        if accel not in ("auto", "kvm", "tcg"):
            raise ValueError(f"qemu accel must be auto, kvm or tcg, not {accel!r}")
        found = find_host_tool(binary, "qemu-system-x86", VirtError)
        qemu_img = find_host_tool("qemu-img", "qemu-utils", VirtError)
        self.host, self.binary, self.qemu_img, self.host_ip = host, found, qemu_img, host_ip
        self.accel_option, self.probe_kernel = accel, probe_kernel
        self.vcpu_overcommit, self.soft_reboot_seconds = vcpu_overcommit, soft_reboot_seconds
        self.state_dir = Path(state_dir).resolve()
        self.instances_dir = self.state_dir / "instances"
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        self.images = ImageCache(Path(image_cache or self.state_dir / "images"), qemu_img,
                                 image_cache_max_bytes, self._images_in_use)
        self._lock = threading.Lock()  # building, ports, the accelerator
        self._building: dict[str, InstanceSpec] = {}
        self._ports: set[int] = set()  # chosen but maybe not yet recorded
        self._accel: str | None = None if accel == "auto" else accel
        self._version = process.version(self.binary)
        self.monitor = QemuMonitor(self.instances_dir, host, console_max_bytes,
                                   console_drain_seconds)

    # -- the interface ------------------------------------------------------------------

    def host_resources(self) -> HostResources:
        accel = self._accelerator()
        with self._lock:
            building = {spec.id: spec.memory_mb for spec in self._building.values()}
        figures = memory.host_figures(self.instances_dir, self.monitor.running_pid, building,
                                      accel)
        return HostResources(
            hypervisor_type="KVM" if accel == "kvm" else "QEMU",
            hypervisor_version=self._version, hypervisor_hostname=self.host,
            host_ip=self.host_ip, vcpus=os.cpu_count() or 1, memory_mb=records.memory_mb(),
            disk_gb=shutil.disk_usage(self.state_dir).total // GIB,
            **dataclasses.asdict(figures))

    def list_instances(self) -> list[InstanceInfo]:
        with self._lock:
            building = set(self._building)
        found = []
        for workdir in sorted(self.instances_dir.iterdir()):
            if workdir.name in building or not (workdir / records.RECORD).exists():
                continue
            found.append(InstanceInfo(workdir.name, self.monitor.state(workdir)))
        return found

    def spawn(self, spec: InstanceSpec, incoming: bool = False) -> None:  # see prepare_incoming
        self._spawn(spec, incoming=incoming)

    def _spawn(self, spec: InstanceSpec, source: str | None = None,
               power_on: bool = True, incoming: bool = False) -> None:
        """`source`: a move's (qemu_moves); `incoming`: a live migration's."""
        workdir = self._dir(spec.id, error=SpawnError)
        with self._lock:
            if spec.id in self._building or (workdir / records.RECORD).exists():
                raise InstanceExists(f"instance {spec.id} already exists on {self.host}")
            if workdir.exists():  # a spawn cut short by a crash before it wrote anything
                shutil.rmtree(workdir, ignore_errors=True)
            self._check_capacity(spec)
            self._building[spec.id] = spec
        started, made = time.monotonic(), False
        try:
            image = self.images.get(spec.image_id, spec.image_path)
            size = max(image.virtual_size, spec.disk_gb * GIB)
            if spec.disk_gb and spec.disk_gb * GIB < image.virtual_size:
                raise SpawnError(f"instance {spec.id}: its {spec.disk_gb} GiB disk is smaller "
                                 f"than image {spec.image_id} ({image.virtual_size} bytes)")
            workdir.mkdir()
            made = True
            nics = spec.nics or (Nic(),)
            record = {"format": records.RECORD_FORMAT, "spec": dataclasses.asdict(spec),
                      "macs": [nic.mac or records.mac(spec.id, i) for i, nic in enumerate(nics)],
                      "ports": [None for _ in nics]}
            # first of all, so that a crash leaves the instance listed, for clean-up
            records.write_json(workdir / records.RECORD, record)
            self._make_disk(spec, image, workdir / "disk.qcow2", size, source)
            make_config_drive(spec, workdir / "config.iso")
            pid = self._start(workdir, record, incoming) if power_on else 0
        except BaseException as exc:
            self._remove(workdir if made else None, spec.id)
            with self._lock:
                del self._building[spec.id]
            if isinstance(exc, VirtError) and not isinstance(exc, SpawnError):
                raise SpawnError(f"spawn of {spec.id} failed: {exc}") from exc
            raise
        with self._lock:
            del self._building[spec.id]
        log.info("spawned instance %s (%s) with qemu pid %d under %s in %.1f s", spec.id,
                 spec.name, pid, self._accelerator(), time.monotonic() - started)

    def destroy(self, instance_id: str) -> None:
        try:
            workdir = self._dir(instance_id)
        except VirtError:
            return  # no such id can exist
        if workdir.exists():
            self._remove(workdir, instance_id)
            log.info("destroyed instance %s", instance_id)

    def power_state(self, instance_id: str) -> PowerState:
        return self.monitor.state(self._existing(instance_id))

    def reboot(self, instance_id: str, hard: bool) -> None:
        workdir = self._existing(instance_id)
        pid = self.monitor.running_pid(workdir)
        if pid is None:
            self._start(workdir, records.read_record(workdir))
        elif hard:
            self.monitor.qmp(workdir, "system_reset")
            self.monitor.resume(workdir)
        else:
            self.monitor.drain_console(workdir)
            self.monitor.qmp(workdir, "system_powerdown")
            if process.wait_gone(pid, workdir, self.soft_reboot_seconds):
                self._start(workdir, records.read_record(workdir))
            else:
                log.info("instance %s did not shut down within %.0f s for a soft reboot: "
                         "resetting it", instance_id, self.soft_reboot_seconds)
                self.monitor.qmp(workdir, "system_reset")
                self.monitor.resume(workdir)
        log.info("rebooted instance %s (%s)", instance_id, "hard" if hard else "soft")

    def trigger_crash_dump(self, instance_id: str) -> None:
        self.monitor.inject_nmi(self._existing(instance_id))

    def power_off(self, instance_id: str, timeout: float = 60.0) -> None:
        workdir = self._existing(instance_id)
        pid = self.monitor.running_pid(workdir)
        if pid is None:
            return
        self.monitor.drain_console(workdir)
        if self.monitor.state(workdir) != PowerState.RUNNING:
            timeout = 0.0  # a paused guest cannot react to the power button
        try:
            self.monitor.qmp(workdir, "system_powerdown")
        except QmpError as exc:
            log.info("instance %s: no ACPI shutdown (%s): cutting its power", instance_id, exc)
        if process.wait_gone(pid, workdir, timeout):
            log.info("instance %s shut down", instance_id)
        else:
            log.info("instance %s did not shut down within %.0f s: cutting its power",
                     instance_id, timeout)
            process.kill(pid, workdir)
        (workdir / "pid").unlink(missing_ok=True)

    def power_on(self, instance_id: str) -> None:
        workdir = self._existing(instance_id)
        if self.monitor.running_pid(workdir) is None:
            self._start(workdir, records.read_record(workdir))
            log.info("powered on instance %s", instance_id)
        else:
            self.monitor.resume(workdir)

    def pause(self, instance_id: str) -> None:
        self.monitor.freeze(self._existing(instance_id), paused=True)

    def unpause(self, instance_id: str) -> None:
        self.monitor.freeze(self._existing(instance_id), paused=False)

    def console_output(self, instance_id: str, length: int | None = None) -> str:
        if length is not None and length < 0:
            raise ValueError(f"console length must not be negative: {length}")
        workdir = self._existing(instance_id)
        self.monitor.drain_console(workdir)
        return console.tail(workdir, length)

    def close(self) -> None:
        self.monitor.close()

    def manage_image_cache(self) -> None:
        self.images.prune()

    def snapshot(self, instance_id: str, target: Path) -> str:
        return snapshot.write(self.monitor, self.qemu_img, self._existing(instance_id),
                              instance_id, Path(target))

    def attach_nic(self, instance_id: str, nic: Nic) -> None:
        workdir = self._existing(instance_id)
        qemu_nics.attach(workdir, nic, self.monitor.qmp_lock(workdir),
                         lambda: self.monitor.running_pid(workdir) is not None)

    def detach_nic(self, instance_id: str, port_id: str) -> None:
        workdir = self._existing(instance_id)
        qemu_nics.detach(workdir, port_id, self.monitor.qmp_lock(workdir),
                         lambda: self.monitor.running_pid(workdir) is not None)

    def prepare_incoming(self, spec: InstanceSpec, psk: str = "") -> MigrationTarget:
        return migration.prepare_incoming(self, spec, psk)

    def live_migrate(self, instance_id: str, target: MigrationTarget,
                     timeout: float = 600.0) -> MigrationStats:
        return migration.live_migrate(self, self._existing(instance_id), target, timeout)

    def finish_incoming(self, instance_id: str) -> None:
        return migration.finish_incoming(self, self._existing(instance_id))

    def ssh_address(self, instance_id: str) -> tuple[str, int]:
        return "127.0.0.1", records.ssh_port(records.read_record(self._existing(instance_id)))

    # -- processes ----------------------------------------------------------------------

    def _start(self, workdir: Path, record: dict[str, Any], incoming: bool = False) -> int:
        """Start the instance's qemu from its record, wait until it runs; its pid."""
        nics = records.nics(record)
        with process.foreign_taps(nics) as fds:
            return self._start_machine(workdir, record, nics, fds, incoming)

    def _start_machine(self, workdir: Path, record: dict[str, Any], nics: list[Nic],
                       fds: dict[int, int], incoming: bool) -> int:
        spec, last = record["spec"], ""
        image = self.images.get(spec["image_id"], spec["image_path"])
        for attempt in range(3):  # another program may take a chosen port first
            ports = [self._port(record["ports"][i] if attempt == 0 else None)
                     if nic.kind == "user" else None for i, nic in enumerate(nics)]
            record = {**record, "ports": ports}
            records.write_json(workdir / records.RECORD, record)
            machine = process.Machine(
                instance_id=workdir.name, vcpus=spec["vcpus"], memory_mb=spec["memory_mb"],
                accel=self._accelerator(), boot=image.boot, tap_fds=fds,
                console_ring=self.monitor.console_ring, incoming=incoming,
                nics=tuple(zip(
                    [dataclasses.replace(nic, mac=mac) for nic, mac in
                     zip(nics, record["macs"], strict=True)], ports, strict=True)))
            log_size = process.bound_log(workdir)
            try:
                pid = process.start(process.command_line(self.binary, machine), workdir,
                                    fds.values())
                (workdir / "pid").write_text(f"{pid}\n")
            finally:  # recorded now, or given up
                with self._lock:
                    self._ports.difference_update(p for p in ports if p)
            last = self.monitor.wait_running(workdir, pid, log_size,
                                             "inmigrate" if incoming else "running")
            if not last:
                return pid
            process.kill(pid, workdir)
            (workdir / "pid").unlink(missing_ok=True)
            if "host forwarding" not in last:
                break
        raise VirtError(f"qemu did not start instance {workdir.name}: {last}")

    def _remove(self, workdir: Path | None, instance_id: str) -> None:
        """Kill the instance's qemu and delete its files."""
        if workdir is not None:
            if (pid := self.monitor.running_pid(workdir)) is not None:
                process.kill(pid, workdir)
            try:
                shutil.rmtree(workdir)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise VirtError(f"cannot remove {workdir}: {exc}") from exc
        self.monitor.forget(instance_id)

    # -- host-wide state ----------------------------------------------------------------

    def _accelerator(self) -> str:
        with self._lock:
            if self._accel is not None:
                return self._accel
            kernels = [*([self.probe_kernel] if self.probe_kernel else []),
                       *records.built_kernels(), *self.images.kernels()]
            if not os.access("/dev/kvm", os.R_OK | os.W_OK):
                self._accel = "tcg"
            elif kernels:
                self._accel = "kvm" if process.kvm_works(self.binary, kernels[0]) else "tcg"
            else:  # decided for now; probed once an image with a kernel is cached
                return "tcg"
            return self._accel

    def _check_capacity(self, spec: InstanceSpec) -> None:
        """Called with self._lock held; stopped instances keep their share."""
        records.check_capacity(self.instances_dir, self._building, spec, self.host,
                               int((os.cpu_count() or 1) * self.vcpu_overcommit),
                               shutil.disk_usage(self.state_dir).total // GIB)

    def _port(self, wanted: int | None) -> int:
        """A free loopback port for a forwarded ssh port (`wanted` if still free)."""
        with self._lock:
            return records.free_port(self.instances_dir, self._ports, wanted)

    def _images_in_use(self) -> set[str]:
        """Images of instances being spawned (first: a spawn records its instance before
        it ends) and of those recorded, stopped too."""
        with self._lock:
            building = {spec.image_id for spec in self._building.values()}
        return building | {str(record["spec"]["image_id"])
                            for record in records.every(self.instances_dir).values()}

    def _dir(self, instance_id: str, error: type[VirtError] = InstanceNotFound) -> Path:
        if not instance_id or instance_id[0] == "." or "/" in instance_id or len(instance_id) > 64:
            raise error(f"bad instance id {instance_id!r}")
        return self.instances_dir / instance_id

    def _existing(self, instance_id: str) -> Path:
        workdir = self._dir(instance_id)
        with self._lock:
            building = instance_id in self._building
        if building or not (workdir / records.RECORD).exists():
            raise InstanceNotFound(f"no instance {instance_id} on {self.host}")
        return workdir
