"""Benchmark the compute control plane with the fake driver.

Starts ``labs up`` (SQLite, in-process bus, ``LABS_AGENT_FAKE_HOSTS`` fake agents in the
same process, no VM image build) on a loopback port and measures:

- **single**: one ``POST /servers`` at a time, polled every 5 ms until ACTIVE: p50/p99
  over 20 servers (each deleted afterwards);
- **burst N**: N servers created at once (N ``POST /servers`` of one server each, sent
  at once over 50 connections), timed from the first request to the moment a server list
  shows all N ACTIVE; then all deleted and waited for;
- both with 1 and with 10 agents (a fresh ``labs up`` each);
- **peak RSS** of the ``labs up`` process (API, conductor, scheduler, agents, and the
  identity and image services it also runs), sampled every 100 ms;
- **scheduler decision time** with 1,000 hosts, in this process: the filters and
  weighers alone (``Scheduler.candidates``), and a whole ``select_destinations``
  (read the hosts, pick, claim) against a SQLite database with 1,000 compute nodes.

    .venv/bin/python bench/compute.py            # 50, 200 and 1,000; about a minute
    .venv/bin/python bench/compute.py --quick    # 50 and 200

Every request loop is bounded in count and time. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from _load import RssSampler, admin_token, free_port, machine, markdown_table

LABS = Path(sys.executable).with_name("labs")
RESULTS = Path(__file__).resolve().parent / "results"
LATEST = {"OpenStack-API-Version": "compute 2.100"}
AIMS = {"single_p50_s": 0.050, "burst_50_s": 1.0, "burst_1000_s": 15.0, "rss_mb": 150}
NOVA = {"single_p50_s": 0.55, "burst_50_s": 32.7, "rss_mb": 1500}


class Cloud:
    """One ``labs up`` with ``agents`` fake agents, and an admin client."""

    def __init__(self, work: Path, agents: int) -> None:
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LABS_", "OS_"))}
        env.update({"LABS_IMAGE_BOOTSTRAP_IMAGE": "false", "LABS_AGENT_FAKE_HOSTS": str(agents),
                    "LABS_AGENT_DRIVER": "fake",
                    "LABS_AGENT_HOST": "fake", "LABS_AGENT_FAKE_VCPUS": "1024",
                    "LABS_AGENT_FAKE_MEMORY_MB": str(1 << 22),
                    "LABS_COMPUTE_QUOTA_INSTANCES": "-1", "LABS_COMPUTE_QUOTA_CORES": "-1",
                    "LABS_COMPUTE_QUOTA_RAM": "-1", "LABS_LOG_LEVEL": "WARNING"})
        self.log = (work / "labs-up.log").open("wb")
        self.proc = subprocess.Popen([str(LABS), "up", "--data-dir", str(work / "data"),
                                      "--bind", f"127.0.0.1:{self.port}"],
                                     stdout=subprocess.PIPE, stderr=self.log, env=env,
                                     start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("Labs is up"):
            self.stop()
            raise RuntimeError(f"labs up did not start: {(work / 'labs-up.log').read_text()}")
        self.rss = RssSampler(self.proc.pid, interval_s=0.1)
        self.rss.start()
        token = admin_token(self.url, work / "data" / "clouds.yaml")
        self.headers = {"X-Auth-Token": token, **LATEST}
        self.image_id = self._image()

    def _image(self) -> str:
        made = httpx.post(f"{self.url}/image/v2/images", headers=self.headers, timeout=30,
                          json={"name": "bench", "disk_format": "raw",
                                "container_format": "bare", "visibility": "public"})
        made.raise_for_status()
        image_id = str(made.json()["id"])
        httpx.put(f"{self.url}/image/v2/images/{image_id}/file", content=b"\0" * 4096,
                  headers={**self.headers, "Content-Type": "application/octet-stream"},
                  timeout=30).raise_for_status()
        return image_id

    def body(self, name: str) -> dict[str, Any]:
        return {"server": {"name": name, "imageRef": self.image_id, "flavorRef": "6",
                           "networks": "none"}}

    def stop(self) -> None:
        if getattr(self, "rss", None) is not None:
            self.rss.stop()
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=20)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()


def single(cloud: Cloud, count: int = 20) -> list[float]:
    """POST -> ACTIVE, one server at a time."""
    seconds = []
    with httpx.Client(base_url=cloud.url + "/compute/v2.1", headers=cloud.headers,
                      timeout=30) as client:
        for index in range(count):
            began = time.perf_counter()
            made = client.post("/servers", json=cloud.body(f"single-{index}"))
            made.raise_for_status()
            server_id = made.json()["server"]["id"]
            deadline = began + 30
            while time.perf_counter() < deadline:
                shown = client.get(f"/servers/{server_id}").json()["server"]
                if shown["status"] == "ACTIVE":
                    break
                if shown["status"] == "ERROR":
                    raise RuntimeError(f"server went to ERROR: {shown.get('fault')}")
                time.sleep(0.005)
            else:
                raise RuntimeError("server not ACTIVE after 30 s")
            seconds.append(time.perf_counter() - began)
            client.delete(f"/servers/{server_id}").raise_for_status()
        wait_empty(client)
    return seconds


def wait_empty(client: httpx.Client, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not client.get("/servers", params={"limit": 1}).json()["servers"]:
            return
        time.sleep(0.1)
    raise RuntimeError("servers still there after deleting them")


CONNECTIONS = 50
T = TypeVar("T")


async def _bounded(slots: asyncio.Semaphore, work: Awaitable[T]) -> T:
    """Run `work` when one of the connection slots is free: as many requests in flight as
    connections, so the client's connection pool never queues (httpcore's queue costs
    time per waiting request on every hand-over, which made the client use a whole core
    for 1,000 requests)."""
    async with slots:
        return await work


async def _post_one(client: httpx.AsyncClient, cloud: Cloud, name: str,
                    dropped: list[str]) -> str:
    """POST one server; a dropped connection (seen a few times in 1,000-server bursts,
    with nothing in the server's log) is retried, unless the server was made."""
    for _attempt in range(3):
        try:
            reply = await client.post("/servers", json=cloud.body(name))
            reply.raise_for_status()
            return str(reply.json()["server"]["id"])
        except httpx.TransportError as exc:
            dropped.append(f"{name}: {type(exc).__name__}")
            found = await client.get("/servers", params={"name": f"^{name}$"})
            if found.json()["servers"]:
                return str(found.json()["servers"][0]["id"])
    raise RuntimeError(f"could not create {name}")


async def _post_all(cloud: Cloud, count: int) -> tuple[list[str], list[str]]:
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=cloud.url + "/compute/v2.1", headers=cloud.headers,
                                 timeout=120, limits=limits) as client:
        dropped: list[str] = []
        slots = asyncio.Semaphore(CONNECTIONS)
        ids = await asyncio.gather(*(_bounded(slots, _post_one(client, cloud, f"b{i}", dropped))
                                     for i in range(count)))
    return list(ids), dropped


async def _delete_all(cloud: Cloud, ids: list[str]) -> None:
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=cloud.url + "/compute/v2.1", headers=cloud.headers,
                                 timeout=120, limits=limits) as client:
        async def delete(server_id: str) -> None:
            for _attempt in range(3):
                try:
                    await client.delete(f"/servers/{server_id}")
                    return
                except httpx.TransportError:
                    continue
        slots = asyncio.Semaphore(CONNECTIONS)
        await asyncio.gather(*(_bounded(slots, delete(i)) for i in ids))


def burst(cloud: Cloud, count: int, timeout: float = 300.0) -> dict[str, Any]:
    began = time.perf_counter()
    ids, dropped = asyncio.run(_post_all(cloud, count))
    posted = time.perf_counter() - began
    wanted = set(ids)
    with httpx.Client(base_url=cloud.url + "/compute/v2.1", headers=cloud.headers,
                      timeout=60) as client:
        # as a client waiting for its builds would: is any still building? (20 times a
        # second), then one full list to count how they ended
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            building = client.get("/servers", params={"status": "BUILD", "limit": 1})
            if not building.json()["servers"]:
                break
            time.sleep(0.05)
        active = time.perf_counter() - began
        statuses: dict[str, int] = {}
        marker = None
        for _ in range(count // 1000 + 2):
            page = client.get("/servers/detail", params={
                "limit": 1000, **({"marker": marker} if marker else {})}).json()["servers"]
            for server in page:
                if server["id"] in wanted:
                    statuses[server["status"]] = statuses.get(server["status"], 0) + 1
            if len(page) < 1000:
                break
            marker = page[-1]["id"]
        asyncio.run(_delete_all(cloud, ids))
        wait_empty(client)
    return {"servers": count, "posted_s": round(posted, 3), "all_active_s": round(active, 3),
            "statuses": statuses, "dropped_connections": dropped}


def scheduler_decisions(hosts: int = 1000, repeat: int = 200) -> dict[str, Any]:
    """The filters and weighers alone, and a whole select_destinations on SQLite."""
    import random

    from labs.common.db import Database
    from labs.compute import models
    from labs.compute.config import ComputeOptions
    from labs.compute.payloads import utcnow
    from labs.compute.scheduler.config import SchedulerOptions
    from labs.compute.scheduler.engine import Scheduler
    from labs.compute.scheduler.hosts import HostState, RequestSpec
    from labs.compute.scheduler.manager import SchedulerManager
    from labs.network.config import NetworkOptions
    from labs.wiring.compute import new_compute

    rng = random.Random(7)
    scheduler = Scheduler.from_options(SchedulerOptions())
    states = [HostState(host=f"h{i}", node_id=f"n{i}", availability_zone="nova", enabled=True,
                        up=True, vcpus=64, memory_mb=262144, disk_gb=4000,
                        vcpus_used=rng.randrange(0, 200), memory_mb_used=rng.randrange(0, 250000),
                        disk_gb_used=rng.randrange(0, 3900)) for i in range(hosts)]
    spec = RequestSpec(instance_id="x", project_id="p", vcpus=2, memory_mb=2048, disk_gb=20)
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        scheduler.candidates(states, spec)
        timings.append(time.perf_counter() - began)
    pure = statistics.median(timings)

    with tempfile.TemporaryDirectory(prefix="labs-bench-sched-") as tmp:
        db = Database(f"sqlite:///{tmp}/labs.db")
        options = ComputeOptions()
        from labs.common.bus import InProcessBus
        from labs.compute.api.images import ImageLookup

        class NoImages(ImageLookup):
            def find(self, ctx: Any, image_id: str) -> None:
                return None

        new_compute(db, InProcessBus(f"b{uuid.uuid4().hex[:6]}"), NoImages(), options,
                    NetworkOptions()).prepare()
        now = utcnow()
        with db.transaction() as tx:
            for i in range(hosts):
                service = models.Service(id=f"s{i}", host=f"h{i}", binary="nova-compute",
                                         availability_zone="nova", last_seen=now,
                                         created_at=now, updated_at=now)
                tx.add(service)
                tx.add(models.ComputeNode(
                    id=f"n{i}", host=f"h{i}", service_id=f"s{i}", hypervisor_hostname=f"h{i}",
                    hypervisor_type="fake", host_ip="127.0.0.1", vcpus=64, memory_mb=262144,
                    local_gb=4000, cpu_allocation_ratio=4.0, ram_allocation_ratio=1.0,
                    disk_allocation_ratio=1.0, updated_at=now))
        manager = SchedulerManager(db, scheduler, options)
        whole = []
        for n in range(50):
            with db.transaction() as tx:
                tx.add(models.Instance(
                    id=f"i{n}", project_id="p", user_id="u", name=f"i{n}", hostname=f"i{n}",
                    vm_state="building", task_state="scheduling", vcpus=2, memory_mb=2048,
                    disk_gb=20, flavor={}, image_ref="img", reservation_id="r",
                    created_at=now, updated_at=now))
            began = time.perf_counter()
            placed = manager.select_destinations([f"i{n}"])
            whole.append(time.perf_counter() - began)
            assert "host" in placed[f"i{n}"], placed
        db.dispose()
    return {"hosts": hosts, "filters_and_weighers_ms": round(pure * 1000, 2),
            "select_destinations_ms_p50": round(statistics.median(whole) * 1000, 1),
            "select_destinations_ms_max": round(max(whole) * 1000, 1)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="bursts of 50 and 200 only")
    ap.add_argument("--agents", default="1,10", help="agent counts to run with (1,10)")
    args = ap.parse_args(argv)
    bursts = [50, 200] if args.quick else [50, 200, 1000]
    report: dict[str, Any] = {"benchmark": "compute", "started": datetime.now(UTC).isoformat(),
                              "command": " ".join([".venv/bin/python", "bench/compute.py",
                                                   *(argv or sys.argv[1:])]),
                              "machine": machine(), "aims": AIMS, "nova_reference": NOVA,
                              "runs": []}
    rows: list[list[object]] = []
    for agents in [int(a) for a in args.agents.split(",")]:
        with tempfile.TemporaryDirectory(prefix="labs-bench-compute-") as tmp:
            cloud = Cloud(Path(tmp), agents)
            try:
                lat = single(cloud)
                run: dict[str, Any] = {"agents": agents, "single_s": [round(s, 4) for s in lat],
                                       "bursts": []}
                rows.append([agents, "single POST -> ACTIVE (20)",
                             f"p50 {percentile(lat, .5) * 1000:.1f} ms, "
                             f"p99 {percentile(lat, .99) * 1000:.1f} ms"])
                print(f"{agents} agents: single p50 {percentile(lat, .5) * 1000:.1f} ms",
                      flush=True)
                for count in bursts:
                    got = burst(cloud, count)
                    run["bursts"].append(got)
                    rows.append([agents, f"{count} at once -> all ACTIVE",
                                 f"{got['all_active_s']:.2f} s (POSTs done at "
                                 f"{got['posted_s']:.2f} s) {got['statuses']}"])
                    print(f"{agents} agents: {count} at once: {got}", flush=True)
                run["peak_rss_mb"] = round(cloud.rss.peak_kb / 1024, 1)
                rows.append([agents, "peak RSS of labs up", f"{run['peak_rss_mb']} MB"])
                report["runs"].append(run)
            except BaseException:
                RESULTS.mkdir(exist_ok=True)
                kept = RESULTS / f"compute-labs-up-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
                kept.write_bytes((Path(tmp) / "labs-up.log").read_bytes())
                print(f"failed; the server's log is in {kept}", file=sys.stderr)
                raise
            finally:
                cloud.stop()
    sched = scheduler_decisions()
    report["scheduler"] = sched
    rows.append(["-", "scheduler, 1,000 hosts: filters + weighers",
                 f"{sched['filters_and_weighers_ms']} ms"])
    rows.append(["-", "scheduler, 1,000 hosts: select_destinations (read, pick, claim)",
                 f"p50 {sched['select_destinations_ms_p50']} ms, "
                 f"max {sched['select_destinations_ms_max']} ms"])
    print()
    print(markdown_table(["agents", "measure", "result"], rows))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"compute-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nresults: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
