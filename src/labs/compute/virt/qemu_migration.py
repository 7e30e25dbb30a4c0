"""Live migration of qemu instances between hosts that share no disk, as libvirt does it.

The destination starts the instance's machine paused and waiting (`-S -incoming defer`)
on a new qcow2 overlay of the same image and size, takes the guest's memory on a TCP port
(`migrate-incoming`) and the disk through an NBD server exporting that overlay, writable.
The source mirrors its overlay's own clusters there (`drive-mirror`, sync "top": both
sides have the image below), in write-blocking mode once in step, so that every write the
guest makes reaches both disks; then it migrates the memory (`migrate`), which pauses the
guest for the last round, and ends the mirror (`block-job-cancel` of a job in step
completes it). The destination stops its NBD server and lets the guest run.

On any failure before the end the source cancels what it started and the guest runs on
there; the destination's half-made instance is destroyed by its host.
"""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labs.compute.virt.base import (
    InstanceSpec,
    MigrationStats,
    MigrationTarget,
    SpawnError,
    VirtError,
)
from labs.compute.virt.qmp import QmpError

if TYPE_CHECKING:
    from labs.compute.virt.qemu import QemuDriver

DISK = "virtio0"  # the block device of the instance's disk (the first `-drive if=virtio`)
JOB = "migrate-disk"
POLL = 0.05
FINISH_TIMEOUT = 60.0
#: Bytes per second the memory copy may use (qemu's default is 128 MiB/s).
MAX_BANDWIDTH = 1 << 30
DOWNTIME_LIMIT_MS = 300  # the pause qemu aims to stay under in the last round


def prepare_incoming(driver: QemuDriver, spec: InstanceSpec) -> MigrationTarget:
    """Make the paused, waiting machine and its NBD export (see the module docstring)."""
    driver.spawn(spec, incoming=True)
    workdir = driver.instances_dir / spec.id
    host = driver.host_ip
    try:
        migrate_port, nbd_port = _free_port(host), _free_port(host)
        driver.monitor.qmp(workdir, "migrate-incoming",
                           arguments={"uri": f"tcp:{_address(host)}:{migrate_port}"})
        driver.monitor.qmp(workdir, "nbd-server-start", arguments={
            "addr": {"type": "inet", "data": {"host": host, "port": str(nbd_port)}}})
        driver.monitor.qmp(workdir, "nbd-server-add",
                           arguments={"device": DISK, "writable": True})
    except (VirtError, OSError) as exc:
        driver.destroy(spec.id)
        raise SpawnError(f"instance {spec.id}: cannot wait for its migration: {exc}") from exc
    return MigrationTarget(uri=f"tcp:{_address(host)}:{migrate_port}", nbd_host=host,
                           nbd_port=nbd_port, nbd_export=DISK)


def live_migrate(driver: QemuDriver, workdir: Path, target: MigrationTarget,
                 timeout: float) -> MigrationStats:
    """Send the running guest to `target`; the source ends paused ("postmigrate")."""
    if driver.monitor.running_pid(workdir) is None:
        raise VirtError(f"instance {workdir.name} does not run: it cannot be live-migrated")
    deadline = time.monotonic() + timeout

    def qmp(command: str, arguments: dict[str, Any] | None = None) -> Any:
        return driver.monitor.qmp(workdir, command, arguments=arguments)

    mirroring = migrating = False
    disk: dict[str, Any] = {}
    try:
        if target.nbd_port:
            qmp("drive-mirror", {
                "job-id": JOB, "device": DISK, "sync": "top", "mode": "existing",
                "format": "raw", "copy-mode": "write-blocking",
                "target": f"nbd://{_address(target.nbd_host)}:{target.nbd_port}/"
                          f"{target.nbd_export}"})
            mirroring = True
            disk = _wait(lambda: _job(qmp, running=True), lambda job: bool(job.get("ready")),
                         deadline,
                         f"the disk of {workdir.name} to be copied")
        qmp("migrate-set-parameters", {"max-bandwidth": MAX_BANDWIDTH,
                                       "downtime-limit": DOWNTIME_LIMIT_MS})
        qmp("migrate", {"uri": target.uri})
        migrating = True
        done = _wait(lambda: qmp("query-migrate"),
                     lambda info: info.get("status") in ("completed", "failed", "cancelled"),
                     deadline, f"the memory of {workdir.name} to be copied")
        if done["status"] != "completed":
            raise VirtError(f"live migration of {workdir.name} {done['status']}: "
                            f"{done.get('error-desc', 'qemu gave no reason')}")
        if mirroring:  # a job in step completes on cancel: the target is a full copy
            qmp("block-job-cancel", {"device": JOB})
            _wait(lambda: _job(qmp), lambda job: not job, time.monotonic() + FINISH_TIMEOUT,
                  f"the disk mirror of {workdir.name} to end")
    except BaseException:
        _undo(qmp, workdir.name, migrating, mirroring)
        raise
    ram = done.get("ram", {})
    return MigrationStats(
        total_ms=int(done.get("total-time", 0)), downtime_ms=int(done.get("downtime", 0)),
        memory_total=int(ram.get("total", 0)), memory_processed=int(ram.get("transferred", 0)),
        memory_remaining=int(ram.get("remaining", 0)), disk_total=int(disk.get("len", 0)),
        disk_processed=int(disk.get("offset", 0)),
        disk_remaining=int(disk.get("len", 0)) - int(disk.get("offset", 0)))


def finish_incoming(driver: QemuDriver, workdir: Path) -> None:
    """The guest has arrived: stop the NBD server and let it run."""
    status = _wait(lambda: driver.monitor.qmp(workdir, "query-status"),
                   lambda info: info.get("status") != "inmigrate",
                   time.monotonic() + FINISH_TIMEOUT, f"instance {workdir.name} to arrive")
    if status["status"] not in ("paused", "running"):
        raise VirtError(f"instance {workdir.name} did not arrive whole: qemu says "
                        f"{status['status']}")
    with contextlib.suppress(QmpError):  # stopped before (a repeated finish)
        driver.monitor.qmp(workdir, "nbd-server-stop")
    driver.monitor.resume(workdir)


def _undo(qmp: Any, name: str, migrating: bool, mirroring: bool) -> None:
    """After a failure: stop what was started, and let the guest run on here."""
    steps: list[tuple[str, dict[str, Any] | None]] = []
    if migrating:
        steps.append(("migrate_cancel", None))
    if mirroring:
        steps.append(("block-job-cancel", {"device": JOB, "force": True}))
    for command, arguments in steps:
        with contextlib.suppress(VirtError):  # ended already
            qmp(command, arguments)
    with contextlib.suppress(VirtError):
        if qmp("query-status")["status"] != "running":
            qmp("cont")


def _job(qmp: Any, running: bool = False) -> dict[str, Any]:
    """The disk mirror's job ({} when there is none; `running`: VirtError then)."""
    jobs: list[dict[str, Any]] = qmp("query-block-jobs")
    job = next((job for job in jobs if job.get("device") == JOB), {})
    if running and not job:
        raise VirtError("the disk mirror stopped (the destination went away?)")
    return job


def _wait(read: Any, done: Any, deadline: float, what: str) -> Any:
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise VirtError(f"timed out waiting for {what}")
        time.sleep(POLL)


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _address(host: str) -> str:
    return f"[{host}]" if ":" in host else host
