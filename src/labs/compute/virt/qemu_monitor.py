"""The running side of qemu instances: their process, what QMP says about them, and
their serial console drained into its bounded log.

Everything here works on an instance's directory (see qemu_process), so that any driver
object, a restarted agent's too, reaches the VMs an earlier one started.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from labs.common.periodic import Periodic
from labs.compute.virt import qemu_console as console
from labs.compute.virt import qemu_process as process
from labs.compute.virt import qemu_records as records
from labs.compute.virt.base import PowerState, VirtError
from labs.compute.virt.qmp import QmpError, qmp

log = logging.getLogger("labs.compute.virt.qemu")

START_TIMEOUT = 30.0  # from starting qemu to QMP saying "running"
_STATUS = {"running": PowerState.RUNNING, "shutdown": PowerState.SHUTDOWN,
           "suspended": PowerState.SUSPENDED, "internal-error": PowerState.CRASHED,
           "io-error": PowerState.CRASHED, "guest-panicked": PowerState.CRASHED}


class QemuMonitor:
    """Talks to the qemu of each instance under ``instances_dir`` (one QMP client at a
    time per instance, as qemu serves them) and, every ``drain_seconds`` in a thread
    of its own, drains their consoles into logs of at most ``console_max_bytes``."""

    def __init__(self, instances_dir: Path, host: str, console_max_bytes: int,
                 drain_seconds: float) -> None:
        if console_max_bytes < console.MIN_RING:
            raise ValueError(f"console_max_bytes must be at least {console.MIN_RING}")
        self.instances_dir = instances_dir
        self.console_max_bytes = console_max_bytes
        self.console_ring = console.ring_size(console_max_bytes)
        self._qmp_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._console_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._drainer = Periodic(f"qemu-{host}-console", drain_seconds, self._drain_consoles,
                                 what=f"console drain on {host}")
        self._drainer.start()

    def close(self) -> None:
        self._drainer.stop(timeout=10)

    def forget(self, instance_id: str) -> None:
        """The instance is gone: drop what was kept for it."""
        self._qmp_locks.pop(instance_id, None)

    def qmp(self, workdir: Path, command: str, timeout: float = 10.0,
            arguments: dict[str, Any] | None = None) -> Any:
        with self._qmp_locks[workdir.name]:
            return qmp(workdir / "qmp.sock", command, arguments, timeout=timeout)

    def inject_nmi(self, workdir: Path) -> None:
        """A non-maskable interrupt into the running guest (its kernel may panic and
        dump, as ``kernel.unknown_nmi_panic`` says); VirtError when it does not run."""
        if self.running_pid(workdir) is None:
            raise VirtError(f"instance {workdir.name} is not running")
        self.qmp(workdir, "inject-nmi")

    def qmp_lock(self, workdir: Path) -> threading.Lock:
        """Held by whoever talks to the instance's qemu (one QMP client at a time)."""
        return self._qmp_locks[workdir.name]

    def running_pid(self, workdir: Path) -> int | None:
        """The pid of the instance's qemu, None when it does not run."""
        try:
            pid = int((workdir / "pid").read_text())
        except (OSError, ValueError):
            return None
        return pid if process.alive(pid, workdir) else None

    def state(self, workdir: Path) -> PowerState:
        pid = self.running_pid(workdir)
        if pid is None:
            return PowerState.SHUTDOWN
        try:
            status = self.qmp(workdir, "query-status")["status"]
        except QmpError as exc:
            if not process.alive(pid, workdir):
                return PowerState.SHUTDOWN
            log.warning("instance %s: cannot ask qemu for its state: %s", workdir.name, exc)
            return PowerState.NOSTATE
        return _STATUS.get(status, PowerState.PAUSED)

    def resume(self, workdir: Path) -> None:
        """Let a paused guest run on (one that runs is left as it is)."""
        if self.qmp(workdir, "query-status")["status"] != "running":
            self.qmp(workdir, "cont")

    def freeze(self, workdir: Path, paused: bool) -> None:
        """Pause (QMP ``stop``) or unpause (``cont``) a guest that runs; already so is
        fine. VirtError when its qemu does not run."""
        if self.running_pid(workdir) is None:
            raise VirtError(f"cannot {'pause' if paused else 'unpause'} instance "
                            f"{workdir.name}: it is not running")
        status = self.qmp(workdir, "query-status")["status"]
        if paused and status == "running":
            self.qmp(workdir, "stop")
        elif not paused and status == "paused":
            self.qmp(workdir, "cont")

    def wait_running(self, workdir: Path, pid: int, log_size: int,
                     status: str = "running") -> str:
        """Wait for QMP to say "running" (or ``status``): "" once it does, or why it did
        not (what qemu wrote to its log after ``log_size`` bytes, when it exited)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not process.alive(pid, workdir):
                with (workdir / "qemu.log").open("rb") as f:
                    f.seek(log_size)
                    said = f.read().decode(errors="replace").strip()[-1500:]
                return f"qemu exited: {said or 'no message'}"
            try:
                if self.qmp(workdir, "query-status", timeout=2.0)["status"] == status:
                    return ""
            except QmpError:
                pass  # not listening yet
            time.sleep(0.05)
        return f"qemu was not running after {START_TIMEOUT:.0f} s"

    def drain_console(self, workdir: Path) -> None:
        """Move what qemu's console ring holds into the instance's bounded log."""
        with self._console_locks[workdir.name]:
            if self.running_pid(workdir) is None:
                return
            try:
                data = self.qmp(workdir, "ringbuf-read", timeout=5.0, arguments={
                    "device": console.DEVICE, "size": self.console_ring,
                    "format": "base64"})
                console.append(workdir, base64.b64decode(data), self.console_max_bytes)
            except (QmpError, OSError, ValueError) as exc:
                log.debug("instance %s: console not drained: %s", workdir.name, exc)

    def _drain_consoles(self) -> None:
        """Drain every running instance's console (every few seconds, so that little is
        lost when a guest stops or writes faster than the ring holds)."""
        try:
            workdirs = [d for d in self.instances_dir.iterdir() if (d / records.RECORD).exists()]
        except OSError:
            return
        for workdir in workdirs:
            if self._drainer.stopping:
                return
            self.drain_console(workdir)
