"""Benchmark real VMs: the Labs image under qemu on a bridge network.

Starts ``labs up`` (qemu driver, bridge networks in namespaces named with a prefix of
its own) on a loopback port and measures, as the cloud's admin, over HTTP:

- **POST → ACTIVE** and **POST → ssh answering**: one ``g1.nano`` server at a time,
  polled every 20 ms until ACTIVE, then ``ssh root@<fixed IP> true`` from inside the
  network's namespace (1 s connect timeout) until it succeeds; p50 and p99 over
  ``--count`` servers (default 10; under 100 boots p99 is the slowest);
- **bare qemu → first userspace line**: after each of those, the same kernel, initramfs
  and command line (the driver's, from its image cache) booted by qemu alone, timed to
  the first line the guest's userspace prints; and POST → ssh over it (p50 ÷ p50).
  The guest's own clock at that line and when its ssh server is ready (its first-boot
  program's console lines) show where the difference lies;
- **delete → everything gone**: after each, ``DELETE`` until the server is gone from
  the API, its qemu process has exited, its tap has left the namespace and its DHCP
  lease has left dnsmasq's file;
- **memory per idle VM**: ``--idle`` servers (default 4) booted together, left idle
  for 10 s after ssh answers and, when KSM runs, until it has scanned them twice (at
  most ``--ksm-wait`` s); the qemu processes' RSS and PSS, and what KSM saves
  (``pages_sharing`` pages);
- **how many the host holds** (``--fill``, the default): the agent offers
  ``--fill-memory-mb`` (``[agent] memory_mb``) and enough vCPUs for memory to run out
  first (``cpu_allocation_ratio`` raised, see ``--fill-cpu-ratio``); ``g1.nano`` servers
  are made one after the other until one goes to ERROR, which must say "No valid host
  was found" for want of memory; then every ACTIVE one must answer ssh, and the host
  must not have swapped or OOM-killed anything (at most ``--fill-most`` servers, for at
  most ``--fill-seconds``).

``--ksm`` sets the agent's ``[agent] ksm`` (on: ``auto``, off: ``off``; host: not set).
The agent turns KSM on and never off: after the run this program puts back the
``run`` and ``pages_to_scan`` it found (it writes nothing else to ``/sys``).

    sudo .venv/bin/python bench/boot.py                       # about 8 minutes under TCG
    sudo .venv/bin/python bench/boot.py --count 3 --no-fill   # quicker

Needs root (namespaces, bridges), qemu, dnsmasq, nftables and the Labs image (built on
first start). Every wait is bounded. See bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _bare_boot import bare_boot, bare_command, cached_boot_files
from _cloud import Cloud, boot_one, delete_all_gone, delete_servers, qemu_pid, wait
from _host_memory import (
    compute_node,
    host_health,
    ksm_saving,
    ksm_state,
    meminfo_mb,
    restore_ksm,
    scheduler_holds,
    scheduler_holds_vcpus,
    smaps_kb,
    wait_ksm_scans,
)
from _load import machine, markdown_table, percentile
from labs.compute.config import AgentOptions

RESULTS = Path(__file__).resolve().parent / "results"
AIMS = {"post_to_ssh_p50_s": 5.0, "ssh_over_bare_p50": 1.3}
FLAVOR_MB = 128  # g1.nano
KSM_SETTING = {"on": "auto", "off": "off"}
NO_VALID_HOST = "No valid host was found"


def spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None}
    return {"p50": round(statistics.median(values), 3), "p99": round(percentile(values, .99), 3)}


def secs(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f} s"


def boots(cloud: Cloud, count: int) -> dict[str, Any]:
    """`count` servers one at a time, each followed by a bare boot of its kernel."""
    runs: list[dict[str, Any]] = []
    accel = "tcg"
    for index in range(count):
        server_id, address, active, ssh = boot_one(cloud, f"b{index}")
        guest, said = cloud.guest_clock(server_id)
        deleted = delete_all_gone(cloud, server_id, address)
        if index == 0:  # the driver knows its accelerator once it has an image's kernel
            accel = "kvm" if hypervisor(cloud)["hypervisor_type"] == "KVM" else "tcg"
        boot_files = cached_boot_files(cloud.data / "agent", cloud.image_id)
        bare, bare_guest = bare_boot(boot_files, cloud.work, FLAVOR_MB, accel)
        runs.append({"active_s": round(active, 3), "ssh_s": round(ssh, 3),
                     "delete_s": round(deleted, 3), "bare_s": round(bare, 3),
                     "guest_first_line_s": guest.get("first_line"),
                     "guest_ssh_ready_s": guest.get("ssh_ready"), "bare_guest_s": bare_guest,
                     "console": said})
        print(f"b{index}: ACTIVE {active:.2f} s, ssh {ssh:.2f} s (guest clock: first line "
              f"{guest.get('first_line')} s, ssh ready {guest.get('ssh_ready')} s), deleted "
              f"{deleted:.2f} s; bare qemu: first userspace line {bare:.2f} s (guest "
              f"{bare_guest} s)", flush=True)
    summary = {key: spread([r[key] for r in runs if r[key] is not None])
               for key in ("active_s", "ssh_s", "delete_s", "bare_s", "guest_first_line_s",
                           "guest_ssh_ready_s", "bare_guest_s")}
    ratio = float(summary["ssh_s"]["p50"] or 0) / float(summary["bare_s"]["p50"] or 1)
    command = bare_command(boot_files, cloud.work / "bare-console.log", FLAVOR_MB, accel)
    return {"runs": runs, **summary, "ssh_over_bare_p50": round(ratio, 2),
            "bare_command": " ".join(command)}


def hypervisor(cloud: Cloud) -> dict[str, Any]:
    found: dict[str, Any] = cloud.client.get("/os-hypervisors/detail").json()["hypervisors"][0]
    return found


def boot_together(cloud: Cloud, prefix: str, count: int) -> list[tuple[str, str]]:
    """`count` servers made at once, each ACTIVE and answering ssh: (id, address)."""
    made = [cloud.create(f"{prefix}-{i}") for i in range(count)]
    booted = []
    for server_id in made:
        shown = cloud.built(server_id)
        if shown["status"] != "ACTIVE":
            raise RuntimeError(f"{server_id} went to ERROR: {shown.get('fault')}")
        booted.append((server_id, shown["addresses"]["lan"][0]["addr"]))
    for _, address in booted:
        wait(lambda a=address: cloud.ssh_ok(a), f"ssh to {address}", 0.2)
    return booted


def vm_memory(server_ids: list[str]) -> dict[str, Any]:
    """Mean RSS and PSS (MB) of the servers' qemu processes."""
    samples = [smaps_kb(pid) for sid in server_ids if (pid := qemu_pid(sid)) is not None]
    return {"vms": len(samples),
            "rss_mb": round(statistics.mean(r for r, _ in samples) / 1024, 1),
            "pss_mb": round(statistics.mean(p for _, p in samples) / 1024, 1)}


def idle_memory(cloud: Cloud, count: int, ksm_wait: float) -> dict[str, Any]:
    before = ksm_state()
    booted = boot_together(cloud, "idle", count)
    time.sleep(10)  # idle: the first boot's background work is done
    waited, after = wait_ksm_scans(2, ksm_wait)
    memory = vm_memory([sid for sid, _ in booted])
    for server_id, address in booted:
        delete_all_gone(cloud, server_id, address)
    node = compute_node(cloud.data / "labs.db")
    host = meminfo_mb()
    return {**memory, "ksm": {**ksm_saving(before, after, count), "waited_s": round(waited)},
            "host_memory_mb": host["MemTotal"], "host_available_mb": host["MemAvailable"],
            "fit_by_pss": int(host["MemAvailable"] // memory["pss_mb"]),
            "scheduler_node": node, "fit_by_scheduler": scheduler_holds(node, FLAVOR_MB)}


def fill(cloud: Cloud, most: int, limit_s: float) -> dict[str, Any]:
    """Servers one after the other until the scheduler refuses one (bounded)."""
    before, ksm_before = host_health(), ksm_state()
    began = time.monotonic()
    active: list[tuple[str, str]] = []
    refused: dict[str, Any] = {}
    while len(active) < most and time.monotonic() - began < limit_s:
        server_id = cloud.create(f"fill-{len(active)}")
        shown = cloud.built(server_id)
        if shown["status"] == "ERROR":
            fault = (shown.get("fault") or {}).get("message", "")
            refused = {"id": server_id, "fault": fault,
                       "no_valid_host": fault.startswith(NO_VALID_HOST) and "memory" in fault}
            break
        active.append((server_id, shown["addresses"]["lan"][0]["addr"]))
        print(f"fill-{len(active) - 1}: ACTIVE after {time.monotonic() - began:.0f} s",
              flush=True)
    node = compute_node(cloud.data / "labs.db")
    answered = sum(ssh_within(cloud, address, began + limit_s) for _, address in active)
    ids = [sid for sid, _ in active]
    running = sum(qemu_pid(sid) is not None for sid in ids)
    memory = vm_memory(ids) if ids else {}
    after, ksm_after = host_health(), ksm_state()
    gone_s = delete_servers(cloud, [*ids, *([refused["id"]] if refused else [])])
    by_memory, by_vcpus = scheduler_holds(node, FLAVOR_MB), scheduler_holds_vcpus(node)
    return {"active": len(active), "expected": min(by_memory, by_vcpus),
            "expected_by_memory": by_memory, "expected_by_vcpus": by_vcpus,
            "scheduler_node": node, "refused": refused, "ssh_answered": answered,
            "qemu_running": running, "memory_per_vm": memory,
            "ksm": ksm_saving(ksm_before, ksm_after, len(active)),
            "host_before": before, "host_after": after,
            "oom_kills": after["oom_kill"] - before["oom_kill"],
            "oom_log_lines": after["oom_log_lines"] - before["oom_log_lines"],
            "swapped_out_pages": after["pswpout"] - before["pswpout"],
            "seconds": round(time.monotonic() - began), "deleted_s": round(gone_s, 1)}


def ssh_within(cloud: Cloud, address: str, deadline: float) -> bool:
    """Whether ssh to `address` answers before `deadline` (at least 60 s from now)."""
    try:
        wait(lambda: cloud.ssh_ok(address), f"ssh to {address}", 0.2,
             limit=max(60.0, deadline - time.monotonic()))
    except (RuntimeError, subprocess.TimeoutExpired):
        return False
    return True


def run(cloud: Cloud, args: argparse.Namespace, report: dict[str, Any]) -> None:
    report["ksm_at_start"] = ksm_state()
    report["boots"] = boots(cloud, args.count)
    report["hypervisor_type"] = hypervisor(cloud)["hypervisor_type"]
    report["idle"] = idle_memory(cloud, args.idle, args.ksm_wait)
    if args.fill:
        report["fill"] = fill(cloud, args.fill_most, args.fill_seconds)


def table(report: dict[str, Any], count: int) -> str:
    b, idle = report["boots"], report["idle"]
    tail = " (p99 of fewer than 100 = the slowest)" if count < 100 else ""

    def pair(key: str) -> str:
        return f"p50 {secs(b[key]['p50'])}, p99 {secs(b[key]['p99'])}"
    ksm = idle["ksm"]
    rows: list[list[object]] = [[f"POST → ACTIVE ({count}){tail}", pair("active_s"), ""],
            [f"POST → ssh answering ({count})", pair("ssh_s"), "p50 ≤ 5 s under TCG"],
            [f"bare qemu → first userspace line ({count})", pair("bare_s"), ""],
            ["POST → ssh ÷ bare boot (p50)", f"{b['ssh_over_bare_p50']:.2f}", "≤ 1.3"],
            ["guest clock at the first userspace line: VM / bare (p50)",
             f"{secs(b['guest_first_line_s']['p50'])} / {secs(b['bare_guest_s']['p50'])}; "
             f"the VM's ssh server ready at {secs(b['guest_ssh_ready_s']['p50'])}", ""],
            ["delete → qemu, tap and lease gone", pair("delete_s"), ""],
            [f"memory per idle VM ({idle['vms']}, g1.nano 128 MiB)",
             f"RSS {idle['rss_mb']} MB, PSS {idle['pss_mb']} MB", ""],
            ["KSM", ksm_text(ksm, idle["vms"]), ""],
            ["KSM: before the cloud → with it (put back after)",
             f"{ksm_setting(report['ksm_before_cloud'])} → "
             f"{ksm_setting(report['ksm_at_start'])} "
             f"({', '.join(report.get('ksm_restored', [])) or 'nothing to put back'})", ""],
            ["VMs that fit", f"{idle['fit_by_pss']} by PSS in {idle['host_available_mb']} MB "
                             f"available; {idle['fit_by_scheduler']} g1.nano by the "
                             "scheduler's memory accounting, in the "
                             f"{idle['scheduler_node']['memory_mb']} MiB offered", ""]]
    if "fill" in report:
        rows += fill_rows(report["fill"])
    rows.append(["accelerator", report["hypervisor_type"], ""])
    return markdown_table(["measure", "result", "aim"], rows)


def ksm_text(ksm: dict[str, Any], vms: int) -> str:
    if not ksm.get("available"):
        return "not in this kernel"
    if not ksm["running"]:
        return (f"not running (run={ksm['after'].get('run')}): saves these VMs nothing "
                f"({ksm['saved_mb']} MB still shared from before it stopped)")
    scans = ksm["after"]["full_scans"] - ksm["before"]["full_scans"]
    return (f"running; shares {ksm['saved_mb']} MB in all, {ksm['saved_since_mb']} MB more "
            f"with the {vms} idle VMs: {ksm['saved_per_vm_mb']} MB per VM (waited "
            f"{ksm['waited_s']} s, {scans} full scans since they were made)")


def ksm_setting(state: dict[str, int]) -> str:
    return f"run={state.get('run')}, pages_to_scan={state.get('pages_to_scan')}"


def fill_rows(fill: dict[str, Any]) -> list[list[object]]:
    node, refused = fill["scheduler_node"], fill["refused"]
    expected = (f"memory ({node['memory_mb']} MiB offered - {node['reserved_memory_mb']} "
                f"reserved) // (128 + {node['memory_overhead_mb']} overhead) = "
                f"{fill['expected_by_memory']}, vCPUs {node['vcpus']} x "
                f"{node['cpu_allocation_ratio']:g} = {fill['expected_by_vcpus']}")
    said = refused["fault"][:160] if refused else "none refused within the bounds"
    before, after = fill["host_before"], fill["host_after"]
    return [["VMs the host holds (filled)", f"{fill['active']} ACTIVE, the scheduler "
             f"expects {fill['expected']} (by {expected}); in {fill['seconds']} s",
             "= expected"],
            ["the next one", f"ERROR: {said}", "No valid host (memory)"],
            ["the ACTIVE ones", f"{fill['ssh_answered']} answer ssh, {fill['qemu_running']} "
             f"qemu running; PSS {fill['memory_per_vm'].get('pss_mb')} MB per VM", "all"],
            ["host while full", f"MemAvailable {before['MemAvailable']} → "
             f"{after['MemAvailable']} MB; OOM kills +{fill['oom_kills']} (log lines "
             f"+{fill['oom_log_lines']}); pages swapped out +{fill['swapped_out_pages']}",
             "no OOM, no swap"]]


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--count", type=int, default=10, help="servers booted one at a time")
    ap.add_argument("--idle", type=int, default=4, help="servers measured idle together")
    ap.add_argument("--ksm", choices=("on", "off", "host"), default="on",
                    help="the agent's [agent] ksm: on (auto), off, or host (not set)")
    ap.add_argument("--ksm-wait", type=float, default=90.0,
                    help="at most this many seconds for KSM to scan the idle VMs twice")
    ap.add_argument("--fill", action=argparse.BooleanOptionalAction, default=True,
                    help="boot servers until the scheduler refuses one")
    ap.add_argument("--fill-memory-mb", type=int, default=3072,
                    help="the memory the agent offers ([agent] memory_mb)")
    ap.add_argument("--fill-cpu-ratio", type=float, default=0.0,
                    help="cpu_allocation_ratio while filling; 0: enough vCPUs for "
                    "--fill-most servers, so that memory runs out first")
    ap.add_argument("--fill-most", type=int, default=40, help="at most this many servers")
    ap.add_argument("--fill-seconds", type=float, default=600.0,
                    help="at most this long to fill")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if os.geteuid() != 0:
        print("bench/boot.py makes network namespaces and bridges: run it as root",
              file=sys.stderr)
        return 2
    settings = {"LABS_AGENT_KSM": KSM_SETTING[args.ksm]} if args.ksm in KSM_SETTING else {}
    if args.fill:  # memory, not vCPUs, is what the host runs out of
        ratio = args.fill_cpu_ratio or max(4.0, math.ceil(args.fill_most / (os.cpu_count() or 1)))
        settings.update({"LABS_AGENT_MEMORY_MB": str(args.fill_memory_mb),
                         "LABS_COMPUTE_CPU_ALLOCATION_RATIO": str(ratio)})
    report: dict[str, Any] = {
        "benchmark": "boot", "started": datetime.now(UTC).isoformat(),
        "command": " ".join([".venv/bin/python", "bench/boot.py", *(argv or sys.argv[1:])]),
        "machine": machine(), "aims": AIMS, "settings": settings,
        "agent_has_ksm_option": "ksm" in {f.name for f in dataclasses.fields(AgentOptions)}}
    report["ksm_before_cloud"] = ksm_state()
    with tempfile.TemporaryDirectory(prefix="labs-bench-boot-") as tmp:
        cloud = Cloud(Path(tmp), settings)
        try:
            run(cloud, args, report)
        except BaseException:
            RESULTS.mkdir(exist_ok=True)
            kept = RESULTS / f"boot-labs-up-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
            kept.write_bytes((Path(tmp) / "labs-up.log").read_bytes())
            print(f"failed; the server's log is in {kept}", file=sys.stderr)
            raise
        finally:
            cloud.stop()
            if args.ksm != "off":  # the agent turns KSM on and leaves it on
                report["ksm_restored"] = restore_ksm(report["ksm_before_cloud"])
    report["ksm_at_end"] = ksm_state()
    print()
    print(table(report, args.count))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"boot-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
