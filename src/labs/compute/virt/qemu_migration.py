"""Live migration of qemu instances between hosts that share no disk, as libvirt does it.

The destination starts the instance's machine paused and waiting (`-S -incoming defer`)
on a new qcow2 overlay of the same image and size, takes the guest's memory on a unix
socket (`migrate-incoming`) and the disk through an NBD server on another, exporting that
overlay, writable. Unix sockets, as their paths reach across network namespaces (qemu
may run in its network's); the agents relay them between hosts (agent.relays). The
source mirrors its overlay's own clusters there (`blockdev-mirror` to an NBD client node,
sync "top": both sides have the image below), in write-blocking mode once in step, so
that every write the guest makes reaches both disks; then it migrates the memory
(`migrate`), which pauses the guest for the last round, and ends the mirror
(`block-job-cancel` of a job in step completes it). The destination stops its NBD server
and lets the guest run.

With a key (`psk`, the move's own), both streams speak TLS with it (qemu's
`tls-creds-psk`, from a 0700 directory with `keys.psk` 0600 in the instance's directory,
removed when the move ends on that side): the NBD server and client, and the migration.

On any failure before the end the source cancels what it started and the guest runs on
there; the destination's half-made instance is destroyed by its host.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
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
NODE = "migrate-target"  # the NBD client node the source mirrors to
CREDS = "migrate-tls"  # the qemu object of a move's TLS credentials
SOCKETS = "migration"  # the destination's unix sockets, in the instance's directory
TLS = "migration-tls"  # the directory of a move's key, there too
PSK_USER = "labs"
PSK = re.compile(r"[0-9a-f]{32,128}")
POLL = 0.05
FINISH_TIMEOUT = 60.0
#: Bytes per second the memory copy may use (qemu's default is 128 MiB/s).
MAX_BANDWIDTH = 1 << 30
DOWNTIME_LIMIT_MS = 300  # the pause qemu aims to stay under in the last round


def prepare_incoming(driver: QemuDriver, spec: InstanceSpec, psk: str = "") -> MigrationTarget:
    """Make the paused, waiting machine and its NBD export (see the module docstring)."""
    driver.spawn(spec, incoming=True)
    workdir = driver.instances_dir / spec.id

    def qmp(command: str, arguments: dict[str, Any] | None = None) -> Any:
        return driver.monitor.qmp(workdir, command, arguments=arguments)

    try:
        tls = _use_tls(qmp, workdir, psk, "server")
        (workdir / SOCKETS).mkdir(mode=0o700, exist_ok=True)
        # qemu runs in its directory: relative paths, as an absolute one may be too long
        qmp("migrate-incoming", {"uri": f"unix:{SOCKETS}/migrate.sock"})
        qmp("nbd-server-start", {
            "addr": {"type": "unix", "data": {"path": f"{SOCKETS}/nbd.sock"}}, **tls})
        qmp("nbd-server-add", {"device": DISK, "writable": True})
    except (VirtError, OSError) as exc:
        driver.destroy(spec.id)
        raise SpawnError(f"instance {spec.id}: cannot wait for its migration: {exc}") from exc
    return MigrationTarget(uri=f"unix:{workdir / SOCKETS / 'migrate.sock'}",
                           nbd_socket=str(workdir / SOCKETS / "nbd.sock"), nbd_export=DISK)


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
        tls = _use_tls(qmp, workdir, target.psk, "client")
        if target.nbd_socket or target.nbd_port:
            server = ({"type": "unix", "path": target.nbd_socket} if target.nbd_socket else
                      {"type": "inet", "host": target.nbd_host, "port": str(target.nbd_port)})
            qmp("blockdev-add", {"driver": "nbd", "node-name": NODE, "server": server,
                                 "export": target.nbd_export, **tls})
            mirroring = True
            qmp("blockdev-mirror", {"job-id": JOB, "device": DISK, "target": NODE,
                                    "sync": "top", "copy-mode": "write-blocking"})
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
    finally:
        _forget(qmp, workdir, mirroring)
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
    _forget(lambda command, arguments=None: driver.monitor.qmp(workdir, command,
                                                               arguments=arguments),
            workdir, False)
    shutil.rmtree(workdir / SOCKETS, ignore_errors=True)
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
    if mirroring:
        _wait_quietly(lambda: not _job(qmp), FINISH_TIMEOUT)
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


def _use_tls(qmp: Any, workdir: Path, psk: str, endpoint: str) -> dict[str, str]:
    """With a key: the TLS credentials of this move, for the migration and what uses them
    (`{"tls-creds": id}`, to add to NBD's arguments); none without one."""
    if not psk:
        return {}
    if not PSK.fullmatch(psk):
        raise VirtError("a live migration's key must be 32 to 128 hex digits")
    keys = workdir / TLS
    shutil.rmtree(keys, ignore_errors=True)  # of a move that ended badly
    keys.mkdir(mode=0o700)
    fd = os.open(keys / "keys.psk", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"{PSK_USER}:{psk}\n")
    with contextlib.suppress(QmpError):  # of a move that ended badly
        qmp("object-del", {"id": CREDS})
    qmp("object-add", {"qom-type": "tls-creds-psk", "id": CREDS, "endpoint": endpoint,
                       "dir": str(keys), **({"username": PSK_USER}
                                            if endpoint == "client" else {})})
    # a client names the host it expects; a PSK's peer is known by its key alone
    qmp("migrate-set-parameters", {"tls-creds": CREDS, **(
        {"tls-hostname": PSK_USER} if endpoint == "client" else {})})
    return {"tls-creds": CREDS}


def _forget(qmp: Any, workdir: Path, mirroring: bool) -> None:
    """After a move on this side: drop the NBD client node, the credentials and the key."""
    if mirroring:
        with contextlib.suppress(VirtError):
            qmp("blockdev-del", {"node-name": NODE})
    if (workdir / TLS).exists():
        with contextlib.suppress(VirtError):  # a source that moved out is paused: still there
            qmp("migrate-set-parameters", {"tls-creds": "", "tls-hostname": ""})
            qmp("object-del", {"id": CREDS})
        shutil.rmtree(workdir / TLS, ignore_errors=True)


def _wait_quietly(done: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    with contextlib.suppress(VirtError):
        while not done() and time.monotonic() < deadline:
            time.sleep(POLL)
