"""Benchmark DNS: how soon a new server's name resolves, and how fast the embedded
authoritative server answers compared with PowerDNS serving the same zone.

- **ACTIVE → name resolves**: ``labs up`` (fake driver, embedded DNS server); one server
  at a time, ``GET`` every 5 ms until ``ACTIVE``, then an A query every 2 ms until it
  answers the server's address; p50/p99 over ``--servers`` (default 100);
- **queries/s**: the same zone (the cloud's ``labs.internal.`` with those servers' A
  records) served by the embedded server of that ``labs up`` and by a private
  ``pdns-server`` (gsqlite3, query cache off as the PowerDNS backend asks), each loaded
  by ``dnsperf`` on loopback for ``--seconds`` (default 10) with the same settings.

    .venv/bin/python bench/dns.py              # about a minute
    .venv/bin/python bench/dns.py --servers 20 --seconds 3

Needs dnsperf, pdns-server and pdns-backend-sqlite3 (Debian). See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# This file is bench/dns.py: `import dns` must find dnspython, not this script.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rdatatype  # noqa: E402
import httpx  # noqa: E402

sys.path[:0] = [str(BENCH), str(BENCH.parent)]
from tests.dns.powerdns_helpers import PowerDnsServer  # noqa: E402

from _load import (  # noqa: E402
    admin_token,
    dnsperf,
    free_port,
    machine,
    markdown_table,
    percentile,
)
from labs.dns.backends.base import RecordSet, Zone  # noqa: E402
from labs.dns.backends.powerdns import PowerDnsBackend  # noqa: E402

LABS = Path(sys.executable).with_name("labs")
RESULTS = Path(__file__).resolve().parent / "results"
LATEST = {"OpenStack-API-Version": "compute 2.100"}
AIMS = {"resolve_after_active_ms": 100, "embedded_vs_powerdns": 0.5}
WAIT_S = 30.0


class Cloud:
    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LABS_", "OS_"))}
        env.update({"LABS_AGENT_DRIVER": "fake", "LABS_IMAGE_BOOTSTRAP_IMAGE": "false",
                    "LABS_AGENT_FAKE_VCPUS": "1024", "LABS_AGENT_FAKE_MEMORY_MB": "1048576",
                    "LABS_COMPUTE_QUOTA_INSTANCES": "-1", "LABS_COMPUTE_QUOTA_CORES": "-1",
                    "LABS_COMPUTE_QUOTA_RAM": "-1",
                    # zone_of reads the cloud's zone by AXFR
                    "LABS_DNS_ALLOW_TRANSFER": "127.0.0.1"})
        self.log_path = work / "labs-up.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen([str(LABS), "up", "--data-dir", str(work / "data"),
                                      "--bind", f"127.0.0.1:{self.port}"],
                                     stdout=subprocess.PIPE, stderr=self.log, env=env,
                                     start_new_session=True)
        try:
            self._connect(work)
        except BaseException:
            self.stop()
            raise

    def _connect(self, work: Path) -> None:
        assert self.proc.stdout is not None
        if not self.proc.stdout.readline().decode().startswith("Labs is up"):
            raise RuntimeError(f"labs up did not start: {self.log_path.read_text()}")
        found = re.search(r"embedded server answers on 127\.0\.0\.1 port (\d+)",
                          self.log_path.read_text())
        if found is None:
            raise RuntimeError("labs up did not say where its DNS server answers")
        self.dns_port = int(found.group(1))
        token = admin_token(self.url, work / "data" / "clouds.yaml")
        headers = {"X-Auth-Token": token, **LATEST}
        self.client = httpx.Client(base_url=self.url + "/compute/v2.1", headers=headers,
                                   timeout=60)
        made = httpx.post(f"{self.url}/image/v2/images", headers=headers, timeout=30,
                          json={"name": "bench", "disk_format": "raw",
                                "container_format": "bare", "visibility": "public"})
        made.raise_for_status()
        self.image_id = made.json()["id"]
        httpx.put(f"{self.url}/image/v2/images/{self.image_id}/file", content=b"\0" * 4096,
                  headers={**headers, "Content-Type": "application/octet-stream"},
                  timeout=30).raise_for_status()

    def stop(self) -> None:
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


def resolves(port: int, name: str, address: str) -> bool:
    reply = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=port,
                          timeout=1)
    return any(item.to_text() == address for rrset in reply.answer for item in rrset
               if rrset.rdtype == dns.rdatatype.A)


def wait(predicate: Any, what: str, interval: float) -> None:
    deadline = time.perf_counter() + WAIT_S
    while time.perf_counter() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise RuntimeError(f"no {what} within {WAIT_S:.0f} s")


def name_latency(cloud: Cloud, count: int) -> tuple[list[float], list[str]]:
    """Seconds from ACTIVE (as a client polling every 5 ms sees it) to the name
    resolving, per server; the names."""
    out, names = [], []
    for index in range(count):
        made = cloud.client.post("/servers", json={"server": {
            "name": f"n{index}", "imageRef": cloud.image_id, "flavorRef": "6",
            "networks": "auto"}})
        made.raise_for_status()
        server_id = made.json()["server"]["id"]
        shown: dict[str, Any] = {}

        def active(sid: str = server_id, seen: dict[str, Any] = shown) -> bool:
            seen.update(cloud.client.get(f"/servers/{sid}").json()["server"])
            if seen["status"] == "ERROR":
                raise RuntimeError(f"{seen['name']} went to ERROR: {seen.get('fault')}")
            return seen["status"] == "ACTIVE"
        wait(active, f"n{index} ACTIVE", 0.005)
        at_active = time.perf_counter()
        address = shown["addresses"]["lan"][0]["addr"]
        name = f"n{index}.admin.labs.internal."
        wait(lambda n=name, a=address: resolves(cloud.dns_port, n, a), f"{name} resolving",
             0.002)
        out.append(time.perf_counter() - at_active)
        names.append(name)
    return out, names


def zone_of(port: int) -> Zone:
    """The cloud's zone as the embedded server serves it (by AXFR)."""
    sets: dict[tuple[str, str], tuple[int, list[str]]] = {}
    for message in dns.query.xfr("127.0.0.1", "labs.internal.", port=port, timeout=10,
                                 relativize=False):
        for rrset in message.answer:
            key = (rrset.name.to_text().lower(), dns.rdatatype.to_text(rrset.rdtype))
            _ttl, items = sets.setdefault(key, (rrset.ttl, []))
            items += [item.to_text() for item in rrset if item.to_text() not in items]
    soa = next(items for (_, kind), (_, items) in sets.items() if kind == "SOA")
    recordsets = [RecordSet(name, kind, ttl, tuple(items))
                  for (name, kind), (ttl, items) in sets.items()]
    recordsets.sort(key=lambda r: r.type != "SOA")
    return Zone("labs.internal.", int(soa[0].split()[2]), tuple(recordsets))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--servers", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args(argv)
    report: dict[str, Any] = {"benchmark": "dns", "started": datetime.now(UTC).isoformat(),
                              "command": " ".join([".venv/bin/python", "bench/dns.py",
                                                   *(argv or sys.argv[1:])]),
                              "machine": machine(), "aims": AIMS}
    with tempfile.TemporaryDirectory(prefix="labs-bench-dns-") as tmp:
        work = Path(tmp)
        cloud = Cloud(work)
        try:
            latency, names = name_latency(cloud, args.servers)
            report["resolve_after_active_s"] = [round(x, 4) for x in latency]
            zone = zone_of(cloud.dns_port)
            report["embedded"] = dnsperf("127.0.0.1", cloud.dns_port, names, args.seconds, work)
        finally:
            cloud.stop()
        pdns = PowerDnsServer.start(work / "pdns")
        try:
            backend = PowerDnsBackend(pdns.api_url, pdns.api_key)
            backend.publish(zone)
            wait(lambda: resolves(pdns.dns_port, names[0], zone_address(zone, names[0])),
                 "PowerDNS serving the zone", 0.05)
            report["powerdns"] = dnsperf("127.0.0.1", pdns.dns_port, names, args.seconds, work)
            report["powerdns_version"] = subprocess.run(
                ["pdns_server", "--version"], capture_output=True, text=True,
                check=False).stdout.strip().splitlines()[0:1]
        finally:
            pdns.stop()
    ms = [x * 1000 for x in latency]
    ratio = report["embedded"]["qps"] / report["powerdns"]["qps"]
    report["embedded_vs_powerdns"] = round(ratio, 3)
    rows = [[f"ACTIVE → name resolves ({len(ms)})",
             f"p50 {statistics.median(ms):.1f} ms, p99 {percentile(ms, .99):.1f} ms, "
             f"max {max(ms):.1f} ms"],
            ["embedded server, dnsperf", f"{report['embedded']['qps']:,.0f} queries/s, "
             f"avg {report['embedded']['avg_latency_ms']} ms, lost "
             f"{report['embedded']['lost']}"],
            ["PowerDNS, dnsperf", f"{report['powerdns']['qps']:,.0f} queries/s, avg "
             f"{report['powerdns']['avg_latency_ms']} ms, lost {report['powerdns']['lost']}"],
            ["embedded / PowerDNS", f"{ratio:.2f}"]]
    print(markdown_table(["measure", "result"], rows))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"dns-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nresults: {out}")
    return 0


def zone_address(zone: Zone, name: str) -> str:
    return next(r.records[0] for r in zone.recordsets if r.name == name and r.type == "A")


if __name__ == "__main__":
    raise SystemExit(main())
