"""Benchmark real VMs: the Labs image under qemu on a bridge network.

Starts ``labs up`` (qemu driver, bridge networks in namespaces named with a prefix of
its own) on a loopback port and measures, as the cloud's admin, over HTTP:

- **POST → ACTIVE** and **POST → ssh answering**: one ``g1.nano`` server at a time,
  polled every 20 ms until ACTIVE, then ``ssh root@<fixed IP> true`` from inside the
  network's namespace (1 s connect timeout) until it succeeds; p50 and max over
  ``--count`` servers (default 10);
- **delete → everything gone**: after each, ``DELETE`` until the server is gone from
  the API, its qemu process has exited, its tap has left the namespace and its DHCP
  lease has left dnsmasq's file;
- **memory per idle VM**: ``--idle`` servers (default 4) booted together, left idle
  for 10 s after ssh answers; the qemu processes' RSS and PSS;
- **how many fit**: the host's RAM over the measured PSS, and what the scheduler
  would place (its view of the host's RAM over the flavor's 128 MiB).

    sudo .venv/bin/python bench/boot.py            # about 3 minutes under TCG
    sudo .venv/bin/python bench/boot.py --count 3  # quicker

Needs root (namespaces, bridges), qemu, dnsmasq, nftables and the Labs image (built on
first start). Every wait is bounded. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from _load import admin_token, free_port, machine, markdown_table
from labs.compute.config import AgentOptions
from labs.network.config import NetworkOptions
from labs.wiring.host_network import BRIDGE_STATE, bridge_driver

LABS = Path(sys.executable).with_name("labs")
RESULTS = Path(__file__).resolve().parent / "results"
LATEST = {"OpenStack-API-Version": "compute 2.100"}
AIMS = {"post_to_ssh_p50_s": 5.0}
WAIT_S = 120.0


class Cloud:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.prefix = f"b{uuid.uuid4().hex[:6]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LABS_", "OS_"))}
        env.update({"LABS_AGENT_DRIVER": "qemu", "LABS_AGENT_NETWORK_DRIVER": "bridge",
                    "LABS_AGENT_NETWORK_PREFIX": self.prefix, "LABS_LOG_LEVEL": "WARNING",
                    "LABS_COMPUTE_QUOTA_INSTANCES": "-1", "LABS_COMPUTE_QUOTA_CORES": "-1",
                    "LABS_COMPUTE_QUOTA_RAM": "-1"})
        self.log = (work / "labs-up.log").open("wb")
        self.proc = subprocess.Popen([str(LABS), "up", "--data-dir", str(work / "data"),
                                      "--bind", f"127.0.0.1:{self.port}"],
                                     stdout=subprocess.PIPE, stderr=self.log, env=env,
                                     start_new_session=True)
        try:
            self._connect()
        except BaseException:
            self.stop()
            raise

    def _connect(self) -> None:
        work = self.work
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("Labs is up"):
            raise RuntimeError(f"labs up did not start: {(work / 'labs-up.log').read_text()}")
        token = admin_token(self.url, work / "data" / "clouds.yaml")
        self.headers = {"X-Auth-Token": token, **LATEST}
        self.client = httpx.Client(base_url=self.url + "/compute/v2.1", headers=self.headers,
                                   timeout=60)
        self.key = work / "id"
        made = self.client.post("/os-keypairs", json={"keypair": {"name": "bench"}},
                                headers={"OpenStack-API-Version": "compute 2.1"})
        made.raise_for_status()
        self.key.write_text(made.json()["keypair"]["private_key"])
        self.key.chmod(0o600)
        images = httpx.get(f"{self.url}/image/v2/images", params={"name": "labs"},
                           headers=self.headers, timeout=30).json()["images"]
        if not images:
            raise RuntimeError("labs up has no Labs image (is the image build possible?)")
        self.image_id = images[0]["id"]

    def create(self, name: str) -> str:
        made = self.client.post("/servers", json={"server": {
            "name": name, "imageRef": self.image_id, "flavorRef": "6",
            "key_name": "bench", "networks": "auto"}})
        if made.status_code != 202:
            raise RuntimeError(f"POST /servers: {made.status_code} {made.text}")
        return str(made.json()["server"]["id"])

    def show(self, server_id: str) -> dict[str, Any]:
        reply = self.client.get(f"/servers/{server_id}")
        if reply.status_code == 404:
            return {}
        reply.raise_for_status()
        server: dict[str, Any] = reply.json()["server"]
        return server

    def namespace(self) -> str:
        names = [line.split()[0] for line in subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=True,
            timeout=30).stdout.splitlines() if line.startswith(f"{self.prefix}-net-")]
        if len(names) != 1:
            raise RuntimeError(f"expected one network namespace, found {names}")
        return names[0]

    def ssh_ok(self, address: str) -> bool:
        done = subprocess.run(
            ["ip", "netns", "exec", self.namespace(), "ssh", "-i", str(self.key),
             "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=1",
             "-o", "LogLevel=ERROR", f"root@{address}", "true"],
            capture_output=True, timeout=30, check=False)
        return done.returncode == 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=30)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()
        cleanup(self.prefix, self.work)


def cleanup(prefix: str, work: Path) -> None:
    """Whatever the cloud left: its qemu processes and its networks."""
    for line in subprocess.run(["pgrep", "-af", "qemu-system"], capture_output=True,
                               text=True, timeout=30).stdout.splitlines():
        pid, _, cmd = line.partition(" ")
        if str(work) in cmd:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), 9)
    if (BRIDGE_STATE / prefix).exists():
        bridge_driver(AgentOptions(network_prefix=prefix), NetworkOptions()).remove_all()


def qemu_pid(server_id: str) -> int | None:
    for line in subprocess.run(["pgrep", "-af", "qemu-system"], capture_output=True,
                               text=True, timeout=30).stdout.splitlines():
        pid, _, cmd = line.partition(" ")
        if server_id in cmd:
            return int(pid)
    return None


def wait(predicate: Any, what: str, interval: float) -> float:
    began = time.perf_counter()
    deadline = began + WAIT_S
    while time.perf_counter() < deadline:
        if predicate():
            return time.perf_counter() - began
        time.sleep(interval)
    raise RuntimeError(f"no {what} within {WAIT_S:.0f} s")


def boot_one(cloud: Cloud, name: str) -> tuple[str, str, float, float]:
    """(id, fixed IP, POST → ACTIVE s, POST → ssh s)."""
    began = time.perf_counter()
    server_id = cloud.create(name)
    shown: dict[str, Any] = {}

    def active() -> bool:
        shown.update(cloud.show(server_id))
        if shown.get("status") == "ERROR":
            raise RuntimeError(f"{name} went to ERROR: {shown.get('fault')}")
        return shown.get("status") == "ACTIVE"
    wait(active, f"{name} ACTIVE", 0.02)
    to_active = time.perf_counter() - began
    address = shown["addresses"]["lan"][0]["addr"]
    wait(lambda: cloud.ssh_ok(address), f"ssh to {name}", 0.05)
    return server_id, address, to_active, time.perf_counter() - began


def delete_all_gone(cloud: Cloud, server_id: str, address: str) -> float:
    from labs.network.agent.drivers.bridge.driver import BridgeDriver

    namespace, tap = cloud.namespace(), BridgeDriver.device_name(server_id)
    began = time.perf_counter()
    cloud.client.delete(f"/servers/{server_id}").raise_for_status()

    def gone() -> bool:
        if cloud.show(server_id) or qemu_pid(server_id) is not None:
            return False
        links = subprocess.run(["ip", "-n", namespace, "-j", "link"], capture_output=True,
                               text=True, check=True, timeout=30).stdout
        if any(link["ifname"] == tap for link in json.loads(links)):
            return False
        leases = "".join(p.read_text() for p in
                         (BRIDGE_STATE / cloud.prefix).rglob("dhcp-hosts"))
        return address not in leases
    wait(gone, f"{server_id} gone", 0.02)
    return time.perf_counter() - began


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process, in KiB."""
    rss = pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as smaps:
        for line in smaps:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def idle_memory(cloud: Cloud, count: int) -> dict[str, Any]:
    booted = [cloud.create(f"idle-{i}") for i in range(count)]
    addresses = []
    for server_id in booted:
        shown: dict[str, Any] = {}

        def active(sid: str = server_id, out: dict[str, Any] = shown) -> bool:
            out.update(cloud.show(sid))
            return out.get("status") == "ACTIVE"
        wait(active, f"{server_id} ACTIVE", 0.1)
        addresses.append(shown["addresses"]["lan"][0]["addr"])
    for address in addresses:
        wait(lambda a=address: cloud.ssh_ok(a), f"ssh to {address}", 0.2)
    time.sleep(10)
    samples = [memory_kb(pid) for sid in booted if (pid := qemu_pid(sid)) is not None]
    for server_id, address in zip(booted, addresses, strict=True):
        delete_all_gone(cloud, server_id, address)
    hypervisor = cloud.client.get(  # resources left the hypervisor view at 2.88
        "/os-hypervisors/detail", headers={"OpenStack-API-Version": "compute 2.87"}
    ).json()["hypervisors"][0]
    pss_mb = statistics.mean(p for _, p in samples) / 1024
    with open("/proc/meminfo") as meminfo:
        total_mb = int(next(line for line in meminfo if line.startswith("MemTotal:"))
                       .split()[1]) // 1024
    return {"vms": len(samples), "rss_mb": round(statistics.mean(r for r, _ in samples) / 1024, 1),
            "pss_mb": round(pss_mb, 1), "host_memory_mb": total_mb,
            "fit_by_pss": int(total_mb // pss_mb),
            "fit_by_scheduler": int(hypervisor["memory_mb"] // 128)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--count", type=int, default=10, help="servers booted one at a time")
    ap.add_argument("--idle", type=int, default=4, help="servers measured idle together")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/boot.py makes network namespaces and bridges: run it as root",
              file=sys.stderr)
        return 2
    report: dict[str, Any] = {"benchmark": "boot", "started": datetime.now(UTC).isoformat(),
                              "command": " ".join([".venv/bin/python", "bench/boot.py",
                                                   *(argv or sys.argv[1:])]),
                              "machine": machine(), "aims": AIMS}
    with tempfile.TemporaryDirectory(prefix="labs-bench-boot-") as tmp:
        cloud = Cloud(Path(tmp))
        try:
            runs = []
            for index in range(args.count):
                server_id, address, active, ssh = boot_one(cloud, f"b{index}")
                deleted = delete_all_gone(cloud, server_id, address)
                runs.append({"active_s": round(active, 3), "ssh_s": round(ssh, 3),
                             "delete_s": round(deleted, 3)})
                print(f"b{index}: ACTIVE {active:.2f} s, ssh {ssh:.2f} s, "
                      f"deleted {deleted:.2f} s", flush=True)
            report["boots"] = runs
            report["idle"] = idle_memory(cloud, args.idle)
            accel = cloud.client.get("/os-hypervisors/detail").json()["hypervisors"][0][
                "hypervisor_type"]
            report["hypervisor_type"] = accel
        except BaseException:
            RESULTS.mkdir(exist_ok=True)
            kept = RESULTS / f"boot-labs-up-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
            kept.write_bytes((Path(tmp) / "labs-up.log").read_bytes())
            print(f"failed; the server's log is in {kept}", file=sys.stderr)
            raise
        finally:
            cloud.stop()
    col = {key: [r[key] for r in report["boots"]] for key in ("active_s", "ssh_s", "delete_s")}
    idle = report["idle"]
    rows = [[f"POST → ACTIVE ({args.count})",
             f"p50 {statistics.median(col['active_s']):.2f} s, max {max(col['active_s']):.2f} s"],
            [f"POST → ssh answering ({args.count})",
             f"p50 {statistics.median(col['ssh_s']):.2f} s, max {max(col['ssh_s']):.2f} s"],
            ["delete → qemu, tap and lease gone",
             f"p50 {statistics.median(col['delete_s']):.2f} s, max {max(col['delete_s']):.2f} s"],
            [f"memory per idle VM ({idle['vms']}, g1.nano 128 MiB)",
             f"RSS {idle['rss_mb']} MB, PSS {idle['pss_mb']} MB"],
            ["VMs that fit", f"{idle['fit_by_pss']} by PSS in {idle['host_memory_mb']} MB; "
                             f"{idle['fit_by_scheduler']} g1.nano by the scheduler"],
            ["accelerator", report["hypervisor_type"]]]
    print()
    print(markdown_table(["measure", "result"], rows))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"boot-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
