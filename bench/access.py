"""Benchmark the key lookup a VM makes at login: ``GET /labs/v1/keys/<shell_name>`` of
the metadata service, as sshd's AuthorizedKeysCommand asks it.

A `labs up` (fake VMs, bridge networks: `_cloud.Cloud`) runs one server on the admin's
network; the admin's account gets an ssh key through the accounts API. A client in the
network's namespace connects from the server's fixed address (added to the namespace's
loopback: the server has no VM to hold it) to the metadata server on the network's
gateway, a new connection per request, one at a time, so each lookup goes the whole
way: the metadata server finds the caller through the conductor (bus), then asks the
conductor for the project's access record (identity), and answers.

- **keys, warm**: `--lookups` lookups back to back: the access record comes from the
  agent's cache (1 s per project) for all but about one a second.
- **keys, cold**: `--cold` lookups 1.2 s apart, so that each one asks the conductor.
- **baseline, same run**: ``/openstack/latest/meta_data.json``, `--lookups` times (the
  caller found through the conductor, no access record).

    sudo .venv/bin/python bench/access.py              # about 2 minutes
    sudo .venv/bin/python bench/access.py --lookups 100 --cold 10

Needs root (network namespaces) and the Labs image in the cache (as bench/boot.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from _cloud import Cloud  # noqa: E402
from _load import machine, markdown_table, percentile  # noqa: E402
from labs.compute.config import AgentOptions  # noqa: E402

RESULTS = BENCH / "results"
#: argv: source address, server, port, path, count, pause (s); prints the latencies (ms)
#: of the answers as JSON, and fails on any answer but 200.
CLIENT = """
import http.client, json, sys, time
src, host, port, path, count, pause = sys.argv[1:7]
out = []
for _ in range(int(count)):
    start = time.perf_counter()
    c = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(src, 0))
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    out.append((time.perf_counter() - start) * 1000)
    c.close()
    if r.status != 200:
        sys.exit(f"{path}: {r.status} {body[:200]!r}")
    time.sleep(float(pause))
print(json.dumps(out))
"""


def lookups(namespace: str, source: str, gateway: str, path: str, count: int,
            pause: float = 0.0) -> dict[str, Any]:
    done = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", CLIENT,
                           source, gateway, str(AgentOptions().metadata_port), path,
                           str(count), str(pause)], capture_output=True, text=True,
                          timeout=60 + count * (pause + 1.0), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{path}: {done.stderr.strip()}")
    ms = json.loads(done.stdout)
    return {"path": path, "count": len(ms), "p50_ms": round(percentile(ms, 0.50), 2),
            "p99_ms": round(percentile(ms, 0.99), 2), "mean_ms": round(statistics.mean(ms), 2),
            "max_ms": round(max(ms), 2)}


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    cloud = Cloud(work, {"LABS_AGENT_DRIVER": "fake"})
    try:
        server = cloud.built(cloud.create("keys"))
        if server.get("status") != "ACTIVE":
            raise RuntimeError(f"the server did not build: {server}")
        address = next(iter(server["addresses"].values()))[0]["addr"]
        admin = httpx.get(f"{cloud.url}/identity/v3/auth/tokens", timeout=30,
                          headers={**cloud.headers, "X-Subject-Token":
                                   cloud.headers["X-Auth-Token"]}).json()["token"]["user"]
        public = (work / "id.pub")
        subprocess.run(["ssh-keygen", "-q", "-y", "-f", str(cloud.key)], check=True,
                       stdout=public.open("w"), timeout=30)
        added = httpx.post(f"{cloud.url}/accounts/v1/accounts/{admin['id']}/keys",
                           headers=cloud.headers, timeout=30,
                           json={"key": {"public_key": public.read_text().strip()}})
        added.raise_for_status()
        shell = httpx.get(f"{cloud.url}/accounts/v1/accounts/{admin['id']}",
                          headers=cloud.headers, timeout=30).json()["account"]["shell_name"]
        namespace = cloud.namespace()
        subprocess.run(["ip", "-n", namespace, "addr", "add", f"{address}/32", "dev", "lo"],
                       check=True, timeout=30)
        gateway = address.rsplit(".", 1)[0] + ".1"
        keys = f"/labs/v1/keys/{shell}"
        first = lookups(namespace, address, gateway, keys, 1)
        return {
            "shell_name": shell,
            "first": first,
            "baseline": lookups(namespace, address, gateway,
                                "/openstack/latest/meta_data.json", args.lookups),
            "warm": lookups(namespace, address, gateway, keys, args.lookups),
            "cold": lookups(namespace, address, gateway, keys, args.cold, pause=1.2),
        }
    finally:
        cloud.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--lookups", type=int, default=500)
    ap.add_argument("--cold", type=int, default=50)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/access.py makes network namespaces: run it as root", file=sys.stderr)
        return 2
    report: dict[str, Any] = {"benchmark": "access", "started": datetime.now(UTC).isoformat(),
                              "command": " ".join(["sudo .venv/bin/python", "bench/access.py",
                                                   *(argv or sys.argv[1:])]),
                              "machine": machine()}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="labs-bench-access-") as tmp:
        report.update(run(args, Path(tmp)))
    report["seconds"] = round(time.monotonic() - started, 1)
    rows = [[label, report[key]["count"], f"{report[key]['p50_ms']} ms",
             f"{report[key]['p99_ms']} ms", f"{report[key]['max_ms']} ms"]
            for label, key in (("baseline: meta_data.json", "baseline"),
                               ("keys, warm cache", "warm"),
                               ("keys, cold (each asks the conductor)", "cold"))]
    print(markdown_table(["request", "n", "p50", "p99", "max"], rows))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"access-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
