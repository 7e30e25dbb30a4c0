"""What the qemu driver's VMs really cost the host's memory.

A qemu process holds its guest's memory (as far as the guest has touched it) and its own:
the emulator, device models and, under TCG, the translation cache (``tb-size``). The
overhead of one VM is what it holds beyond its guest memory: its PSS (proportional set
size, from ``/proc/<pid>/smaps_rollup``, which shares the pages of qemu's binary and
libraries fairly among the VMs) less its guest memory. The driver reports the largest
overhead among its running VMs, never less than the accelerator's known default (what a
VM comes to once its guest has touched its memory), so a host with no VM running, or
only freshly booted ones, still counts a true cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from labs.compute.virt import qemu_records as records
from labs.compute.virt.base import InstanceNotFound, VirtError

#: The overhead of one VM in MiB before any runs here: TCG with its 64 MiB translation
#: cache, KVM without one. Measured under TCG with a booted, idle 128 MiB guest: ~215 MiB
#: PSS per VM on a host running many (qemu's binary and libraries shared among them),
#: 275 MiB for a VM alone (it bears them whole), 160 MiB in its first second.
DEFAULT_OVERHEAD_MB = {"tcg": 96, "kvm": 48}


def pss_mb(pid: int) -> int | None:
    """The process's PSS in MiB, None if it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) // 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError as exc:
        raise VirtError(f"cannot read the memory of process {pid}: {exc}") from exc
    raise VirtError(f"no Pss in /proc/{pid}/smaps_rollup")


def running_vms(instances_dir: Path,
                running_pid: Callable[[Path], int | None]) -> list[tuple[int, int]]:
    """(pid, guest memory in MiB) of every running VM under `instances_dir`."""
    found = []
    for workdir in instances_dir.iterdir():
        try:
            record = records.read_record(workdir)
        except (InstanceNotFound, VirtError):
            continue  # destroyed meanwhile, or not a VM's directory
        pid = running_pid(workdir)
        if pid is not None:
            found.append((pid, int(record["spec"]["memory_mb"])))
    return found


def measured_overhead_mb(vms: Iterable[tuple[int, int]]) -> int | None:
    """The largest PSS less guest memory among `vms` (pid, memory_mb); None if none runs."""
    overheads = [pss - memory_mb for pid, memory_mb in vms
                 if (pss := pss_mb(pid)) is not None]
    return max(overheads) if overheads else None


def overhead_mb(vms: Iterable[tuple[int, int]], accel: str) -> int:
    """What one more VM is counted to cost beyond its guest memory: the measured
    overhead, at least the accelerator's default."""
    measured = measured_overhead_mb(vms)
    default = DEFAULT_OVERHEAD_MB.get(accel, DEFAULT_OVERHEAD_MB["tcg"])
    return default if measured is None else max(default, measured)


def available_mb() -> int:
    """The host's MemAvailable in MiB."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    raise VirtError("no MemAvailable in /proc/meminfo")
