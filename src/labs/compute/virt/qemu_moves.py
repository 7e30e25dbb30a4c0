"""Resizes and cold migrations for the qemu driver (its "migrate" capability).

The source stops the guest and moves the instance's directory from `instances/` to
`moving/` (no longer listed, every file kept until the move is confirmed or reverted), and
offers its disk read-only with `qemu-nbd` on the host's address: one client, after which
qemu-nbd exits. The destination copies it over NBD with `qemu-img convert` into a
stand-alone qcow2 (the backing image's data comes along), grows it with `qemu-img resize`
for a flavor with a larger disk, and starts the guest with the new vcpus and memory, with
the same MAC addresses. On the same host the same happens through the host's own
address. Confirm removes the copy set aside; revert moves it back and starts it again.

No shared filesystem is needed, but the export is not authenticated: hosts should reach
each other on a network of their own (as Nova's hosts copy disks over ssh or rsync).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import time
from pathlib import Path
from typing import Any

from labs.common.diskimage.qemu_img import COPY_ADDRESS_SPACE, limited
from labs.common.host_tools import find_host_tool
from labs.compute.virt import qemu_records as records
from labs.compute.virt.base import InstanceNotFound, InstanceSpec, SpawnError, VirtError
from labs.compute.virt.qemu_images import TOOL_TIMEOUT, CachedImage, run_tool
from labs.compute.virt.qemu_monitor import QemuMonitor

log = logging.getLogger("labs.compute.virt.qemu")

NBD_PID = "nbd.pid"
#: what `migrate_out` gives the destination: nbd://<address>:<port>/<instance id>
_SOURCE = re.compile(r"nbd://(\[[0-9a-fA-F:.]+\]|[0-9.]+):([0-9]{1,5})/([0-9a-fA-F-]{1,64})")


class QemuMoves:
    """The "migrate" methods of QemuDriver, which provides what is declared here."""

    host: str
    host_ip: str
    qemu_img: str
    state_dir: Path
    monitor: QemuMonitor

    def _existing(self, instance_id: str) -> Path:
        raise NotImplementedError

    def _dir(self, instance_id: str, error: type[VirtError] = InstanceNotFound) -> Path:
        raise NotImplementedError

    def _spawn(self, spec: InstanceSpec, source: str | None = None,
               power_on: bool = True) -> None:
        raise NotImplementedError

    def _start(self, workdir: Path, record: dict[str, Any]) -> int:
        raise NotImplementedError

    def power_off(self, instance_id: str, timeout: float = 60.0) -> None:
        raise NotImplementedError

    # -- the interface ------------------------------------------------------------------

    def migrate_out(self, instance_id: str) -> str:
        aside = self._aside(instance_id)
        if aside.exists() and not (self._dir(instance_id) / records.RECORD).exists():
            _stop_export(aside)  # asked again (a redelivery): offer it again
            return self._export(aside, instance_id)
        workdir = self._existing(instance_id)
        self.power_off(instance_id, timeout=30.0)
        self.monitor.forget(instance_id)
        aside.parent.mkdir(exist_ok=True)
        shutil.rmtree(aside, ignore_errors=True)
        os.rename(workdir, aside)
        log.info("instance %s set aside for a move", instance_id)
        return self._export(aside, instance_id)

    def migrate_in(self, spec: InstanceSpec, source: str, power_on: bool) -> None:
        if _SOURCE.fullmatch(source) is None or not source.endswith("/" + spec.id):
            raise SpawnError(f"instance {spec.id}: bad migration source {source!r}")
        self._spawn(spec, source, power_on)

    def confirm_migration(self, instance_id: str) -> None:
        aside = self._aside(instance_id)
        _stop_export(aside)
        shutil.rmtree(aside, ignore_errors=True)
        log.info("instance %s: the copy set aside for its move is removed", instance_id)

    def revert_migration(self, instance_id: str, power_on: bool) -> None:
        aside, workdir = self._aside(instance_id), self._dir(instance_id)
        if not aside.exists():
            if (workdir / records.RECORD).exists():
                return  # reverted before
            raise InstanceNotFound(f"no instance {instance_id} set aside on {self.host}")
        if workdir.exists():
            raise VirtError(f"instance {instance_id} is here: destroy it before a revert")
        _stop_export(aside)
        (aside / NBD_PID).unlink(missing_ok=True)
        os.rename(aside, workdir)
        if power_on:
            self._start(workdir, records.read_record(workdir))
        log.info("instance %s is back from its move", instance_id)

    # -- helpers ------------------------------------------------------------------------

    def _aside(self, instance_id: str) -> Path:
        return self.state_dir / "moving" / self._dir(instance_id).name

    def _export(self, aside: Path, instance_id: str) -> str:
        """Offer the disk set aside read-only over NBD (qemu-nbd exits after one client)."""
        nbd = find_host_tool("qemu-nbd", "qemu-utils", VirtError)
        family = socket.AF_INET6 if ":" in self.host_ip else socket.AF_INET
        with socket.socket(family) as probe:
            probe.bind((self.host_ip, 0))
            port = int(probe.getsockname()[1])
        run_tool([nbd, "--read-only", "--fork", "--format=qcow2", f"--bind={self.host_ip}",
                  f"--port={port}", f"--export-name={instance_id}",
                  f"--pid-file={aside / NBD_PID}", str(aside / "disk.qcow2")],
                 f"offering the disk of instance {instance_id}")
        address = f"[{self.host_ip}]" if family == socket.AF_INET6 else self.host_ip
        return f"nbd://{address}:{port}/{instance_id}"

    def _make_disk(self, spec: InstanceSpec, image: CachedImage, disk: Path, size: int,
                   source: str | None) -> None:
        """A new instance's disk: an overlay on its image, or (a move) a copy of
        `source` grown to `size`."""
        if source is None:
            run_tool(limited([self.qemu_img, "create", "-q", "-f", "qcow2", "-F", image.format,
                              "-b", str(image.disk), str(disk), str(size)]),
                     f"creating the disk of instance {spec.id}", error=SpawnError)
            return
        run_tool(limited([self.qemu_img, "convert", "-q", "-f", "raw", "-O", "qcow2", source,
                          str(disk)], cpu_seconds=int(TOOL_TIMEOUT),
                         address_space=COPY_ADDRESS_SPACE),
                 f"copying the disk of instance {spec.id} from {source}", error=SpawnError)
        info = json.loads(run_tool(limited([self.qemu_img, "info", "--output=json", "-f",
                                            "qcow2", str(disk)]),
                                   f"reading the disk of instance {spec.id}", error=SpawnError))
        have = int(info["virtual-size"])
        if have > size:
            raise SpawnError(f"instance {spec.id}: its {have} byte disk cannot shrink to "
                             f"{size} bytes")
        if have < size:
            run_tool(limited([self.qemu_img, "resize", "-q", "-f", "qcow2", str(disk),
                              str(size)]),
                     f"growing the disk of instance {spec.id}", error=SpawnError)


def _stop_export(aside: Path) -> None:
    """End the qemu-nbd of a disk set aside, if one still runs."""
    try:
        pid = int((aside / NBD_PID).read_text().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except (OSError, ValueError):
        return
    if b"qemu-nbd" not in cmdline or str(aside).encode() not in cmdline:
        return  # gone; the pid is another program's now
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5.0
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
