"""What the qemu driver's VMs really cost the host's memory.

A qemu process holds its guest's memory (as far as the guest has touched it) and its own:
the emulator, device models and, under TCG, the translation cache (``tb-size``). The
overhead of one VM is what it holds beyond its guest memory: its PSS (proportional set
size, from ``/proc/<pid>/smaps_rollup``, which shares the pages of qemu's binary and
libraries fairly among the VMs) less its guest memory. The driver reports the largest
overhead among its running VMs, never less than the accelerator's known default (what a
VM comes to once its guest has touched its memory), so a host with no VM running, or
only freshly booted ones, still counts a true cost.

What the host's MemAvailable does not show yet is owed: an instance being built will
take its guest memory and overhead, and a VM that is still booting has not touched all
its memory. The driver reports MemAvailable less what it owes, so a build placed just
before a report is not counted twice as free.

Identical pages of VMs booted from one image (the kernel's code, the files of its
initramfs, zeroed memory) are merged by the kernel's KSM when it runs (see
labs.compute.virt.ksm): PSS then counts a merged page once for all the VMs that share
it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from labs.compute.virt import qemu_records as records
from labs.compute.virt.base import InstanceNotFound, VirtError

#: The overhead of one VM in MiB before any runs here, and the least ever counted: TCG
#: with its 16 MiB translation cache, KVM without one. Measured under TCG with a booted,
#: idle 128 MiB guest without KSM: ~40 MiB beyond a guest that touched 128 MiB on a host
#: running several (qemu's code and the kernel file shared among them), ~90 MiB for a VM
#: alone (it bears them whole). KSM lowers what VMs really cost (see bench/README.md),
#: but a guest may touch all its memory and unmerge its pages: this is not lowered.
DEFAULT_OVERHEAD_MB = {"tcg": 96, "kvm": 48}
#: How long after its qemu started a VM counts as booting: it may still touch memory it
#: has not touched yet (under TCG a boot takes 3-20 s; a loaded host is slower).
BOOT_SECONDS = 120.0


class RunningVm(NamedTuple):
    instance_id: str
    pid: int
    memory_mb: int  # its guest memory


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
                running_pid: Callable[[Path], int | None]) -> list[RunningVm]:
    """Every running VM under `instances_dir`."""
    found = []
    for workdir in instances_dir.iterdir():
        try:
            record = records.read_record(workdir)
        except (InstanceNotFound, VirtError):
            continue  # destroyed meanwhile, or not a VM's directory
        pid = running_pid(workdir)
        if pid is not None:
            found.append(RunningVm(workdir.name, pid, int(record["spec"]["memory_mb"])))
    return found


def measured_overhead_mb(vms: Iterable[RunningVm]) -> int | None:
    """The largest PSS less guest memory among `vms`; None if none runs."""
    overheads = [pss - vm.memory_mb for vm in vms if (pss := pss_mb(vm.pid)) is not None]
    return max(overheads) if overheads else None


def overhead_mb(vms: Iterable[RunningVm], accel: str) -> int:
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


@dataclass(frozen=True)
class HostFigures:
    """The memory part of the driver's report (see HostResources)."""

    memory_overhead_mb: int
    memory_available_mb: int
    counted_instances: int
    counted_memory_mb: int


def host_figures(instances_dir: Path, running_pid: Callable[[Path], int | None],
                 building: dict[str, int], accel: str) -> HostFigures:
    """The overhead of one more VM, MemAvailable less what is owed, and the instances
    that figure accounts for (the running and the building ones). `building`: guest
    memory of each instance being built, by id."""
    vms = [vm for vm in running_vms(instances_dir, running_pid)
           if vm.instance_id not in building]
    overhead = overhead_mb(vms, accel)
    return HostFigures(overhead, available_mb() - owed_mb(building.values(), vms, overhead),
                       len(vms) + len(building),
                       sum(vm.memory_mb for vm in vms) + sum(building.values()))


def owed_mb(building: Iterable[int], vms: Iterable[RunningVm], overhead: int,
            started_ago: Callable[[int], float | None] | None = None) -> int:
    """What the host's MemAvailable does not show yet: the guest memory and overhead of
    each instance being built (`building`: their guest memory; not yet among `vms`), and
    what each VM still booting may take beyond what it holds now."""
    started_ago = started_ago or seconds_since_start
    owed = sum(memory_mb + overhead for memory_mb in building)
    for vm in vms:
        age = started_ago(vm.pid)
        if age is not None and age < BOOT_SECONDS:
            held = pss_mb(vm.pid) or 0
            owed += max(0, vm.memory_mb + overhead - held)
    return owed


def seconds_since_start(pid: int) -> float | None:
    """How long ago process `pid` started; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        with open("/proc/uptime") as uptime:
            up = float(uptime.read().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return None
    # field 22 (starttime, in clock ticks after boot) is the 20th after the command's ")"
    return up - int(fields[19]) / os.sysconf("SC_CLK_TCK")
