"""qemu processes for the qemu driver: the command line, starting and stopping them, and
finding out which accelerator works on this host.

Each instance is one `qemu-system-x86_64` in a session of its own (so it outlives the
agent), run in the instance's directory with relative file names there: `disk.qcow2`,
`config.iso`, `console.log` (the serial console, drained from qemu's ring buffer and
appended to across power cycles: see qemu_console), `qmp.sock` and `qemu.log` (qemu's
own messages, moved once to `qemu.log.1` at a start when it has passed 1 MiB).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from labs.compute.virt import qemu_nics as nics
from labs.compute.virt.base import Nic, VirtError
from labs.compute.virt.qemu_boot import BootFiles

log = logging.getLogger("labs.compute.virt.qemu")

QEMU_LOG_MAX_BYTES = 1 << 20
PROBE_SECONDS = 5.0  # a working KVM boots the probe kernel to its panic in well under 1 s
KILL_WAIT = 30.0

# Children this process started, by pid, so that whichever driver object sees one exit
# reaps it (a dead child left unreaped would still look alive in /proc).
_children: dict[int, subprocess.Popen[bytes]] = {}
_children_lock = threading.Lock()
_probed: dict[tuple[str, str], bool] = {}
_probe_lock = threading.Lock()


@dataclass(frozen=True)
class Machine:
    """What one qemu process runs."""

    instance_id: str
    vcpus: int
    memory_mb: int
    accel: str  # "kvm" or "tcg"
    boot: BootFiles | None  # None: boot from the disk
    nics: tuple[tuple[Nic, int | None], ...]  # each nic, with its ssh port when "user"
    #: the descriptors of taps opened outside qemu's namespace, by nic index
    tap_fds: Mapping[int, int] = field(default_factory=dict)
    console_ring: int = 1 << 16  # bytes of serial output qemu keeps (a power of two)
    #: paused, waiting for a live migration's incoming guest (`migrate-incoming`)
    incoming: bool = False


def nic_args(nic: Nic, index: int, ssh_port: int | None, fd: int | None = None) -> list[str]:
    """The qemu options of one network interface (`fd`: its tap, opened already)."""
    netdev_id = nics.netdev_id(nic, index)
    if nic.kind == "user":
        netdev = f"user,id={netdev_id},restrict=on"
        if ssh_port is not None:
            netdev += f",hostfwd=tcp:127.0.0.1:{ssh_port}-:22"
    elif fd is not None:
        netdev = f"tap,id={netdev_id},fd={fd}"
    else:
        netdev = f"tap,id={netdev_id},ifname={nic.tap},script=no,downscript=no"
    device = f"virtio-net-pci,netdev={netdev_id},romfile="
    if nics.device_id(nic):
        device += f",id={nics.device_id(nic)}"
    if nic.mac:
        device += f",mac={nic.mac}"
    return ["-netdev", netdev, "-device", device]


def command_line(binary: str, machine: Machine) -> list[str]:
    """The whole command, relative to the instance's directory."""
    # TCG's translation cache defaults to 1 GiB of address space, most of it touched over
    # time. 16 MiB holds what a small guest runs while booting and idling (the boot takes
    # no longer than with 64 MiB) and costs about 48 MB less per VM; 8 MiB would save 8 MB
    # more but lengthens the boot by 1-2.5 s (see bench/README.md)
    accel = "tcg,tb-size=16" if machine.accel == "tcg" else machine.accel
    # The config drive is a read-only virtio disk (cloud-init and the Labs image find it
    # by its label on any disk): the guest has its driver from the start, where an IDE
    # CD-ROM waits for ata_piix and sr_mod and their probe (1.2 s sooner under TCG)
    cmd = [binary, "-name", f"instance-{machine.instance_id}", "-accel", accel,
           "-machine", "pc", "-m", str(machine.memory_mb), "-smp", str(machine.vcpus),
           "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
           "-chardev", f"ringbuf,id=console,size={machine.console_ring}", "-serial",
           "chardev:console", "-qmp", "unix:qmp.sock,server=on,wait=off",
           "-drive", "file=disk.qcow2,if=virtio,format=qcow2",
           "-drive", "file=config.iso,if=virtio,format=raw,readonly=on",
           "-device", "virtio-rng-pci"]
    if re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", machine.instance_id):
        cmd += ["-uuid", machine.instance_id]
    if machine.accel == "kvm":
        cmd += ["-cpu", "host"]
    if machine.incoming:
        cmd += ["-S", "-incoming", "defer"]
    if machine.boot is not None:
        cmd += ["-kernel", str(machine.boot.kernel), "-initrd", str(machine.boot.initrd),
                "-append", machine.boot.cmdline]
    for index, (nic, port) in enumerate(machine.nics):
        cmd += nic_args(nic, index, port, machine.tap_fds.get(index))
    namespace = nics.qemu_namespace([nic for nic, _ in machine.nics])
    outside = {nic.netns for index, (nic, _) in enumerate(machine.nics)
               if nic.kind == "tap" and nic.netns != namespace
               and index not in machine.tap_fds}
    if outside:
        raise VirtError(f"instance {machine.instance_id} has taps in network namespaces "
                        f"{sorted(map(str, outside))} besides qemu's {namespace}: they "
                        "must be opened first")
    if namespace:
        cmd = ["ip", "netns", "exec", namespace, *cmd]
    return cmd


@contextlib.contextmanager
def foreign_taps(machine_nics: list[Nic]) -> Iterator[dict[int, int]]:
    """The taps outside the namespace qemu runs in, opened: their descriptors, by nic
    index (closed again on leaving: a started qemu holds its own copies)."""
    namespace = nics.qemu_namespace(machine_nics)
    fds: dict[int, int] = {}
    try:
        for index, nic in enumerate(machine_nics):
            if nic.kind == "tap" and nic.netns != namespace:
                assert nic.tap is not None
                fds[index] = nics.open_tap(nic.netns, nic.tap)
        yield fds
    finally:
        for fd in fds.values():
            os.close(fd)


def bound_log(workdir: Path, max_bytes: int = QEMU_LOG_MAX_BYTES) -> int:
    """Before a start: `qemu.log`, appended to at each start, moved to `qemu.log.1` once
    it passes `max_bytes`; its size now (where this start's messages will begin)."""
    path = workdir / "qemu.log"
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size <= max_bytes:
        return size
    os.replace(path, workdir / "qemu.log.1")
    return 0


def start(cmd: list[str], workdir: Path, pass_fds: Collection[int] = ()) -> int:
    """Start qemu detached, in `workdir` (`pass_fds`: descriptors it inherits); its
    pid."""
    with (workdir / "qemu.log").open("ab") as out:
        try:
            proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    pass_fds=tuple(pass_fds))
        except OSError as exc:
            raise VirtError(f"cannot run {cmd[0]}: {exc}") from exc
    with _children_lock:
        _children[proc.pid] = proc
    return proc.pid


def alive(pid: int, workdir: Path) -> bool:
    """Whether `pid` is the qemu of `workdir` and has not exited (a recycled pid of another
    program does not count). Reaps it if it is a child of this process that exited."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        running = state not in (b"Z", b"X") and os.readlink(f"/proc/{pid}/cwd") == str(workdir)
    except (OSError, IndexError):
        running = False
    if not running:
        with _children_lock:
            child = _children.pop(pid, None)
        if child is not None:  # a child of ours that exited, or whose threads still exit
            try:
                child.wait(timeout=KILL_WAIT)
            except subprocess.TimeoutExpired:
                with _children_lock:
                    _children[pid] = child
    return running


def kill(pid: int, workdir: Path, timeout: float = KILL_WAIT) -> None:
    """Kill the qemu (its whole process group) and wait until it is gone."""
    if not alive(pid, workdir):
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except OSError as exc:
        raise VirtError(f"cannot kill qemu {pid} of {workdir}: {exc}") from exc
    if not wait_gone(pid, workdir, timeout):
        raise VirtError(f"qemu {pid} of {workdir} is still there {timeout:.0f} s after "
                        "SIGKILL: look at it with ps")


def wait_gone(pid: int, workdir: Path, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the process to exit; whether it did."""
    deadline = time.monotonic() + timeout
    while alive(pid, workdir):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def version(binary: str) -> int:
    """qemu's version as Nova reports it: 8.2.4 is 8002004."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VirtError(f"{binary} --version failed: {exc}") from exc
    found = re.search(r"version (\d+)\.(\d+)(?:\.(\d+))?", out)
    if found is None:
        raise VirtError(f"cannot read the version of {binary} from {out[:200]!r}")
    major, minor, micro = (int(part or 0) for part in found.groups())
    return major * 1_000_000 + minor * 1_000 + micro


def kvm_works(binary: str, kernel: Path) -> bool:
    """Whether KVM really runs guests here: boot `kernel` under KVM with no root disk and
    see it reach its panic. Opening /dev/kvm is not enough: some hosts offer it and then
    fail (or hang) once a guest leaves the firmware. Probed once per binary and kernel."""
    key = (binary, str(kernel))
    with _probe_lock:
        if key not in _probed:
            _probed[key] = _probe(binary, kernel)
        return _probed[key]


def _probe(binary: str, kernel: Path) -> bool:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        log.info("no usable /dev/kvm: guests run under TCG (software emulation)")
        return False
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="labs-kvm-probe-") as tmp:
        console = Path(tmp) / "console.log"
        cmd = [binary, "-accel", "kvm", "-cpu", "host", "-m", "128", "-nodefaults",
               "-no-user-config", "-display", "none", "-no-reboot", "-serial",
               f"file:{console}", "-kernel", str(kernel), "-append", "console=ttyS0 panic=-1"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=PROBE_SECONDS,
                                  stdin=subprocess.DEVNULL, check=False)
            output = console.read_text(errors="replace")
            works = done.returncode == 0 and "Kernel panic" in output
            detail = done.stderr.strip()[-300:] or "no kernel panic on the console"
        except subprocess.TimeoutExpired:
            works, detail = False, f"the probe guest hung for {PROBE_SECONDS:.0f} s"
        except OSError as exc:
            works, detail = False, str(exc)
    if works:
        log.info("KVM works (probe guest ran in %.1f s)", time.monotonic() - started)
    else:
        log.warning("/dev/kvm is there but KVM does not run guests (%s): guests run under "
                    "TCG (software emulation)", detail)
    return works
