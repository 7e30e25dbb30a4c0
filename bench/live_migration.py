"""Benchmark live migration of an idle g1.nano (1 vCPU, 128 MiB) under TCG.

Two qemu driver objects on one machine stand for two hosts (state directories of their
own, one shared image cache as two hosts would each have the image). One guest boots the
Labs image on the first and idles until its first-boot program says LABS-READY; then:

- **Labs**: ``--runs`` moves (default 5), back and forth, each as the agents do it:
  ``prepare_incoming`` on the destination (a new overlay, a paused qemu waiting on unix
  sockets for the memory and an NBD export), the agents' relays between them on
  loopback, ``live_migrate`` on the source (the overlay mirrored over NBD, then the
  memory, both in TLS with the move's key), ``finish_incoming`` on the destination,
  ``destroy`` on the source.
  **total**: the wall time of those four steps; **paused**: qemu's ``downtime`` plus the
  time from the end of the migration until the destination runs the guest (what the
  agent records).
- **bare qemu**: in the same run, ``--runs`` moves of the same guest by qemu alone, as
  on shared storage: a second ``qemu-system-x86_64`` with the same command line plus
  ``-incoming tcp:...`` in the same directory (the same disk file), then ``migrate``
  over QMP; **total** is from starting that qemu to the migration's end, **paused** is
  qemu's ``downtime``. No disk is copied: the difference to Labs is the disk mirror and
  Labs' own steps.

    .venv/bin/python bench/live_migration.py              # about 1 minute
    .venv/bin/python bench/live_migration.py --runs 11

Needs qemu and the Labs image (built on first use). Everything stays on loopback; every
wait is bounded. Prints a Markdown table; raw numbers go to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from _load import machine, markdown_table
from labs.compute.agent.relays import DISK, MIGRATION, Inbound, Outbound
from labs.compute.virt.base import InstanceSpec, MigrationTarget
from labs.compute.virt.qemu import QemuDriver
from labs.compute.virt.qmp import qmp
from labs.vmimage.builder import build_image

RESULTS = Path(__file__).resolve().parent / "results"
READY_SECONDS = 180.0
MOVE_SECONDS = 120.0


def wait_ready(driver: QemuDriver, instance_id: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while "LABS-READY" not in driver.console_output(instance_id):
        if time.monotonic() > deadline:
            raise RuntimeError("the guest did not print LABS-READY in time")
        time.sleep(0.5)


def labs_move(source: QemuDriver, dest: QemuDriver, spec: InstanceSpec) -> dict[str, float]:
    started = time.monotonic()
    psk = secrets.token_hex(32)
    target = dest.prepare_incoming(spec, psk)
    routes = {MIGRATION: target.uri.removeprefix("unix:"), DISK: target.nbd_socket}
    with Inbound("127.0.0.1", routes, MOVE_SECONDS) as inbound:
        assert isinstance(inbound, Inbound)
        with Outbound(inbound.address, [MIGRATION, DISK], MOVE_SECONDS) as outbound:
            assert isinstance(outbound, Outbound)
            prepared = time.monotonic()
            stats = source.live_migrate(spec.id, MigrationTarget(
                uri=f"unix:{outbound.paths[MIGRATION]}", nbd_socket=outbound.paths[DISK],
                nbd_export=target.nbd_export, psk=psk))
    sent = time.monotonic()
    dest.finish_incoming(spec.id)
    running = time.monotonic()
    source.destroy(spec.id)
    ended = time.monotonic()
    return {"total_s": ended - started, "paused_ms": stats.downtime_ms + (running - sent) * 1000,
            "qemu_downtime_ms": stats.downtime_ms, "qemu_total_ms": stats.total_ms,
            "prepare_s": prepared - started, "destroy_s": ended - running,
            "disk_bytes": stats.disk_processed, "memory_bytes": stats.memory_processed}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bare_moves(workdir: Path, pid: int, runs: int) -> list[dict[str, float]]:
    """Move the guest of qemu `pid` (running in `workdir`) from qemu to qemu, `runs`
    times; the last one is killed at the end."""
    argv = [a.decode() for a in
            Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")]
    base = [a for a in argv if a != "-S"]  # a guest Labs moved: its -S -incoming defer
    if "-incoming" in base:
        at = base.index("-incoming")
        del base[at:at + 2]
    socket_name, results = "qmp.sock", []
    started_procs: list[subprocess.Popen[bytes]] = []
    try:
        return _bare_chain(workdir, base, socket_name, runs, results, started_procs)
    finally:
        for proc in started_procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


def _bare_chain(workdir: Path, base: list[str], socket_name: str, runs: int,
                results: list[dict[str, float]],
                started_procs: list[subprocess.Popen[bytes]]) -> list[dict[str, float]]:
    for run in range(runs):
        new_socket = f"bare-{run}.sock"
        cmd = [f"unix:{new_socket},server=on,wait=off"
               if a.startswith("unix:") and "server=on" in a else a for a in base]
        cmd = [_new_hostfwd(a) for a in cmd] + ["-incoming", f"tcp:127.0.0.1:{free_port()}"]
        uri = cmd[-1]
        started = time.monotonic()
        with (workdir / "bare-qemu.log").open("ab") as out:
            proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        started_procs.append(proc)
        deadline = started + 30
        while not (workdir / new_socket).exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(
                    f"the bare incoming qemu did not start (exit {proc.poll()}): "
                    f"{(workdir / 'bare-qemu.log').read_text(errors='replace')[-1000:]}; "
                    f"{' '.join(cmd)}")
            time.sleep(0.01)
        time.sleep(0.05)
        qmp(workdir / socket_name, "migrate", {"uri": uri})
        deadline = time.monotonic() + MOVE_SECONDS
        while (info := qmp(workdir / socket_name, "query-migrate"))["status"] not in (
                "completed", "failed", "cancelled"):
            if time.monotonic() > deadline:
                raise RuntimeError("the bare migration did not end in time")
            time.sleep(0.05)
        ended = time.monotonic()
        if info["status"] != "completed":
            raise RuntimeError(f"the bare migration {info['status']}")
        qmp(workdir / socket_name, "quit")
        results.append({"total_s": ended - started, "paused_ms": float(info["downtime"]),
                        "qemu_total_ms": float(info["total-time"]),
                        "memory_bytes": float(info["ram"]["transferred"])})
        socket_name = new_socket
        base = cmd[:-2]
    return results


def _new_hostfwd(arg: str) -> str:
    """The user-mode network with its ssh port forwarded from another free port (the
    source still holds its own)."""
    if "hostfwd=tcp:127.0.0.1:" not in arg:
        return arg
    head, _, tail = arg.partition("hostfwd=tcp:127.0.0.1:")
    return f"{head}hostfwd=tcp:127.0.0.1:{free_port()}-{tail.split('-', 1)[1]}"


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    return {"total_p50_s": round(statistics.median(r["total_s"] for r in runs), 2),
            "paused_p50_ms": round(statistics.median(r["paused_ms"] for r in runs)),
            "total_max_s": round(max(r["total_s"] for r in runs), 2),
            "paused_max_ms": round(max(r["paused_ms"] for r in runs))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="labs-bench-live-"))
    drivers: list[QemuDriver] = []
    try:
        image = build_image(work / "image").path
        hosts = [QemuDriver(work / name, name, accel="tcg", image_cache=work / "cache")
                 for name in ("host-a", "host-b")]
        drivers.extend(hosts)
        spec = InstanceSpec(id=str(uuid.uuid4()), name="idle", hostname="idle",
                            project_id="bench", vcpus=1, memory_mb=128, disk_gb=1,
                            image_id="labs", image_path=str(image))
        hosts[0].spawn(spec)
        wait_ready(hosts[0], spec.id)
        labs = []
        for run in range(args.runs):
            source, dest = hosts[run % 2], hosts[(run + 1) % 2]
            labs.append(labs_move(source, dest, spec))
        print(f"Labs: {summary(labs)}", flush=True)
        last = hosts[args.runs % 2]
        workdir = last.instances_dir / spec.id
        pid = int((workdir / "pid").read_text())
        bare = bare_moves(workdir, pid, args.runs)
    finally:
        for driver in drivers:
            for info in driver.list_instances():
                driver.destroy(info.id)
            driver.close()
        shutil.rmtree(work, ignore_errors=True)
    report = {"machine": machine(), "runs": args.runs, "labs": labs, "bare": bare,
              "summary": {"labs": summary(labs), "bare": summary(bare)}}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"live-migration-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2))
    rows = [[name, s["total_p50_s"], s["paused_p50_ms"], s["total_max_s"], s["paused_max_ms"]]
            for name, s in report["summary"].items()]
    print(markdown_table(["idle g1.nano, TCG", "total p50 (s)", "paused p50 (ms)",
                          "total max (s)", "paused max (ms)"], rows))
    print(f"raw numbers: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
