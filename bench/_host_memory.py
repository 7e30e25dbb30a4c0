"""The host's memory as bench/boot.py reads it: per VM, KSM, and the host's health.

- **per VM**: RSS and PSS of a qemu process (``/proc/<pid>/smaps_rollup``);
- **KSM** (``/sys/kernel/mm/ksm``, as labs.compute.virt.ksm reads it): its saving is
  ``pages_sharing`` pages (the duplicates it freed) of the host's page size. Written
  only to put back what the bench's own cloud changed (its agent turns KSM on and never
  off);
- **the host's health**: MemAvailable, swap, and the kernel's OOM-kill counter
  (``/proc/vmstat`` ``oom_kill``) with the kernel log's OOM lines, before and after;
- **the scheduler's view**: the compute node's row in the cloud's SQLite database
  (its memory, reserve and measured per-VM overhead are not all in the API).
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from labs.compute.virt import ksm

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1 << 20


def smaps_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process, in KiB."""
    rss = pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as smaps:
        for line in smaps:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def meminfo_mb() -> dict[str, int]:
    """MemTotal, MemAvailable, SwapTotal and SwapFree in MiB."""
    keys = ("MemTotal", "MemAvailable", "SwapTotal", "SwapFree")
    found: dict[str, int] = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in keys:
            found[key] = int(value.split()[0]) // 1024
    return found


def ksm_state() -> dict[str, int]:
    """KSM's settings and counters (empty without KSM)."""
    state = ksm.read_state()
    return {} if state is None else dataclasses.asdict(state)


def restore_ksm(before: dict[str, int]) -> list[str]:
    """Put KSM's `run` and `pages_to_scan` back as they were `before`; what it wrote."""
    now, wrote = ksm_state(), []
    for name in ("pages_to_scan", "run"):  # stopped last: merged pages stay merged
        if name in before and now.get(name) != before[name]:
            (ksm.KSM_DIR / name).write_text(f"{before[name]}\n")
            wrote.append(f"{name} {now.get(name)} -> {before[name]}")
    return wrote


def wait_ksm_scans(scans: int = 2, limit_s: float = 90.0) -> tuple[float, dict[str, int]]:
    """When KSM runs: wait (at most `limit_s`) until it has scanned all mergeable memory
    `scans` more times. The seconds waited and its counters then."""
    began = time.monotonic()
    state = ksm_state()
    if state.get("run") != 1:
        return 0.0, state
    target = state["full_scans"] + scans
    while state["full_scans"] < target and time.monotonic() - began < limit_s:
        time.sleep(1.0)
        state = ksm_state()
    return time.monotonic() - began, state


def ksm_saving(before: dict[str, int], after: dict[str, int], vms: int) -> dict[str, Any]:
    """What KSM saves: all it shares now, and what it came to share since `before`, in
    MB in all and per VM of the `vms` running."""
    if not after:
        return {"available": False}
    total = after.get("pages_sharing", 0) * PAGE / MB
    since = (after.get("pages_sharing", 0) - before.get("pages_sharing", 0)) * PAGE / MB
    return {"available": True, "running": after.get("run") == 1, "before": before,
            "after": after, "saved_mb": round(total, 1), "saved_since_mb": round(since, 1),
            "saved_per_vm_mb": round(since / vms, 1) if vms else None}


def oom_lines() -> int:
    """Lines of the kernel log that tell of the OOM killer (-1: the log is unreadable)."""
    done = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=30,
                          check=False)
    if done.returncode != 0:
        return -1
    return sum(1 for line in done.stdout.splitlines()
               if "Out of memory" in line or "oom-kill" in line or "oom_reaper" in line)


def host_health() -> dict[str, int]:
    """MemAvailable and swap (MiB), the OOM kills and pages swapped out since boot."""
    vmstat = dict(line.split() for line in Path("/proc/vmstat").read_text().splitlines())
    return {**meminfo_mb(), "oom_kill": int(vmstat.get("oom_kill", -1)),
            "pswpout": int(vmstat.get("pswpout", 0)), "oom_log_lines": oom_lines()}


def compute_node(database: Path) -> dict[str, Any]:
    """The scheduler's view of the (one) host: its row in `compute_node`."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
        db.row_factory = sqlite3.Row
        row = db.execute(
            "SELECT vcpus, cpu_allocation_ratio, memory_mb, ram_allocation_ratio, "
            "reserved_memory_mb, memory_overhead_mb, memory_available_mb "
            "FROM compute_node").fetchone()
    if row is None:
        raise RuntimeError(f"no compute node in {database}")
    return dict(row)


def scheduler_holds(node: dict[str, Any], flavor_mb: int) -> int:
    """How many VMs of `flavor_mb` the scheduler places on an empty `node` by memory
    (Nova's accounting: the limit less the reserve, over the flavor and the overhead)."""
    limit = node["memory_mb"] * node["ram_allocation_ratio"] - node["reserved_memory_mb"]
    return int(limit // (flavor_mb + node["memory_overhead_mb"]))


def scheduler_holds_vcpus(node: dict[str, Any], flavor_vcpus: int = 1) -> int:
    """How many VMs of `flavor_vcpus` the scheduler places on an empty `node` by vCPUs."""
    return int(node["vcpus"] * node["cpu_allocation_ratio"] // flavor_vcpus)
