"""Benchmark the network: how soon a host enforces a change, and how fast ports list.

- **rule → enforced**: one real VM (`labs up`, qemu, bridge networks: `_cloud.Cloud`) in
  a group of its own that lets nothing in; a rule letting TCP 22 in is added, then
  deleted, `--changes` times in all (the network API's
  ``/v2.0/security-group-rules``). Each is
  timed from the API's answer until a TCP connect from the network's namespace to the VM
  first behaves as the rule says (a probe process in that namespace starts a connect
  every 5 ms, each with a 0.25 s timeout; the time is when the first connect that
  behaved so began).
  Baseline, same run: ``nft -f`` of the network's whole ruleset as the host has it, into
  a scratch namespace of the bench (what the agent runs per change, alone).
- **floating IP → reachable**: the same VM; a floating IP associated
  (``addFloatingIp``) `--changes` times, each timed from the API's answer to the first
  TCP connect to the floating IP:22 that succeeds from an "outside" namespace on the
  cloud's public bridge (172.24.4.200/24); then taken away again (and waited for).
  Baseline: a TCP connect to the VM's fixed IP from its network's namespace.
- **ports made and listed**: `labs up` with the fake driver; `--ports` ports made one
  after another through ``POST /network/v2.0/ports`` on a /20 network of the admin's
  (ports made per second; each create's p50/p99), beside a port's rename
  (``PUT /v2.0/ports/{id}``, a write that allocates nothing); then
  ``GET /network/v2.0/ports`` (admin, every project's) and one page of it
  (``?limit=100&sort_key=name&sort_dir=asc``, sorted and paged in the database) timed
  `--lists` times, p50/p99 and ports listed per second; baseline: the same list in the
  same cloud before the ports were made (no ports: the request's fixed cost).

    sudo .venv/bin/python bench/network.py                # about 3 minutes under TCG
    sudo .venv/bin/python bench/network.py --quick        # 5 changes, 100 ports

Every loop is bounded in count and time; the bench talks only to loopback and to the
namespaces it or its clouds made, and removes them also when it fails. See README.md.
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
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from _cloud import Cloud, boot_one
from _load import machine, markdown_table, percentile

RESULTS = Path(__file__).resolve().parent / "results"
PROXY = {"OpenStack-API-Version": "compute 2.35"}  # the nova-network proxies
OUTSIDE_IP = "172.24.4.200"
PROBE_LIMIT_S = 30.0
#: Runs in a namespace: for each line "host port open|closed limit" on stdin, starts a
#: non-blocking TCP connect every 5 ms (each given 0.25 s), and prints the
#: CLOCK_MONOTONIC time (the bench's clock is the same) at which the first connect that
#: behaved as wanted began (once every connect begun before it is settled), or "timeout".
#: Overlapping connects keep a dropped SYN from hiding a change for its whole timeout.
PROBE = r"""
import errno, select, socket, sys, time
GAP, WAIT = 0.005, 0.25

def settle(flying, done, now):
    ready = select.select([], [s for s, _ in flying], [], 0)[1] if flying else []
    for sock, began in list(flying):
        if sock in ready or now - began >= WAIT:
            ok = sock in ready and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            done.append((began, ok))
            flying.remove((sock, began))
            sock.close()

for line in sys.stdin:
    host, port, want, limit = line.split()
    end = time.monotonic() + float(limit)
    flying, done, found, last = [], [], "timeout", 0.0
    while time.monotonic() < end:
        now = time.monotonic()
        if now - last >= GAP:
            sock = socket.socket()
            sock.setblocking(False)
            if sock.connect_ex((host, int(port))) not in (0, errno.EINPROGRESS):
                done.append((now, False))
                sock.close()
            else:
                flying.append((sock, now))
            last = now
        settle(flying, done, time.monotonic())
        hits = [began for began, ok in done if ok == (want == "open")]
        if hits and all(began > min(hits) for _, began in flying):
            found = repr(min(hits))
            break
        time.sleep(0.001)
    for sock, _ in flying:
        sock.close()
    print(found, flush=True)
"""


class Probe:
    """A probe process in `namespace`."""

    def __init__(self, namespace: str) -> None:
        self.proc = subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable,
                                      "-c", PROBE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def until(self, host: str, port: int, want: str, limit: float = PROBE_LIMIT_S) -> float:
        """When (time.monotonic) a connect first behaved as `want` ("open"/"closed")."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{host} {port} {want} {limit}\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer in ("", "timeout"):
            raise RuntimeError(f"{host}:{port} not {want} within {limit:.0f} s")
        return float(answer)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@contextlib.contextmanager
def probe_in(namespace: str) -> Iterator[Probe]:
    probe = Probe(namespace)
    try:
        yield probe
    finally:
        probe.close()


def run(argv: list[str], timeout: float = 30) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True,
                          timeout=timeout).stdout


def spread(values: list[float]) -> dict[str, Any]:
    return {"count": len(values), "p50": statistics.median(values) if values else None,
            "p99": percentile(values, .99) if values else None,
            "max": max(values) if values else None}


# -- the VM's cloud: rules and floating IPs --------------------------------------------
def proxy(cloud: Cloud, method: str, path: str, **kw: Any) -> Any:
    reply = cloud.client.request(method, path, headers=PROXY, **kw)
    if reply.status_code >= 300:
        raise RuntimeError(f"{method} {path}: {reply.status_code} {reply.text[:300]}")
    return reply.json() if reply.content else None


def isolate(cloud: Cloud, server_id: str) -> str:
    """Put the server in a new group that lets nothing in (and out of ``default``)."""
    group = proxy(cloud, "POST", "/os-security-groups", json={"security_group": {
        "name": "bench", "description": "nothing in"}})["security_group"]
    proxy(cloud, "POST", f"/servers/{server_id}/action",
          json={"addSecurityGroup": {"name": "bench"}})
    proxy(cloud, "POST", f"/servers/{server_id}/action",
          json={"removeSecurityGroup": {"name": "default"}})
    return str(group["id"])


def neutron(cloud: Cloud, method: str, path: str, **kw: Any) -> Any:
    reply = cloud.client.request(method, f"{cloud.url}/network/v2.0{path}", **kw)
    if reply.status_code >= 300:
        raise RuntimeError(f"{method} {path}: {reply.status_code} {reply.text[:300]}")
    return reply.json() if reply.content else None


def neutron_group(cloud: Cloud, name: str) -> str:
    """The network API's id of the caller's group `name`."""
    (group,) = neutron(cloud, "GET", "/security-groups", params={"name": name})[
        "security_groups"]
    return str(group["id"])


def ssh_rule(cloud: Cloud, group_id: str) -> str:
    """A rule letting TCP 22 in from anywhere (`group_id`: the network API's)."""
    made = neutron(cloud, "POST", "/security-group-rules", json={"security_group_rule": {
        "security_group_id": group_id, "direction": "ingress", "ethertype": "IPv4",
        "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
        "remote_ip_prefix": "0.0.0.0/0"}})
    return str(made["security_group_rule"]["id"])


def rule_changes(cloud: Cloud, probe: Probe, group_id: str, address: str,
                 changes: int) -> dict[str, list[float]]:
    """Add and delete the TCP 22 rule in turn; seconds from the answer to enforcement."""
    out: dict[str, list[float]] = {"add": [], "delete": []}
    rule = None
    for index in range(changes):
        if rule is None:
            rule = ssh_rule(cloud, group_id)
            answered = time.monotonic()
            out["add"].append(probe.until(address, 22, "open") - answered)
        else:
            neutron(cloud, "DELETE", f"/security-group-rules/{rule}")
            answered = time.monotonic()
            rule = None
            out["delete"].append(probe.until(address, 22, "closed") - answered)
        print(f"  rule change {index + 1}/{changes}", file=sys.stderr)
    if rule is None:
        ssh_rule(cloud, group_id)  # the floating IP's turn needs TCP 22 in
    return out


def nft_baseline(namespace: str, prefix: str, times: int) -> dict[str, Any]:
    """``nft -f`` of `namespace`'s whole ruleset (flushed first, as one transaction),
    into a scratch namespace."""
    ruleset = "flush ruleset\n" + run(["ip", "netns", "exec", namespace, "nft", "list",
                                       "ruleset"])
    scratch = f"{prefix}-nftb"
    run(["ip", "netns", "add", scratch])
    try:
        seconds = []
        for _ in range(times):
            began = time.monotonic()
            subprocess.run(["ip", "netns", "exec", scratch, "nft", "-f", "-"], input=ruleset,
                           text=True, check=True, capture_output=True, timeout=30)
            seconds.append(time.monotonic() - began)
    finally:
        subprocess.run(["ip", "netns", "del", scratch], capture_output=True, timeout=30,
                       check=False)
    return {"seconds": seconds, "ruleset_lines": ruleset.count("\n")}


@contextlib.contextmanager
def outside(prefix: str) -> Iterator[str]:
    """A namespace standing for the world: a veth on the cloud's public bridge."""
    name, ext, out, inner = f"{prefix}-out", f"{prefix}-ext", f"o{prefix}", f"i{prefix}"
    try:
        for argv in (["ip", "netns", "add", name],
                     ["ip", "link", "add", out, "type", "veth", "peer", "name", inner],
                     ["ip", "link", "set", out, "netns", ext],
                     ["ip", "-n", ext, "link", "set", out, "master", "br-ext", "up"],
                     ["ip", "link", "set", inner, "netns", name],
                     ["ip", "-n", name, "addr", "add", f"{OUTSIDE_IP}/24", "dev", inner],
                     ["ip", "-n", name, "link", "set", inner, "up"]):
            run(argv)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30,
                       check=False)
        subprocess.run(["ip", "-n", ext, "link", "del", out], capture_output=True,
                       timeout=30, check=False)


def floating_changes(cloud: Cloud, probe: Probe, server_id: str,
                     changes: int) -> list[float]:
    """Associate a floating IP; seconds from the answer to the first TCP connect through
    it; then disassociate and wait until it no longer answers."""
    address = proxy(cloud, "POST", "/os-floating-ips", json={})["floating_ip"]["ip"]
    seconds = []
    for index in range(changes):
        proxy(cloud, "POST", f"/servers/{server_id}/action",
              json={"addFloatingIp": {"address": address}})
        answered = time.monotonic()
        seconds.append(probe.until(address, 22, "open") - answered)
        proxy(cloud, "POST", f"/servers/{server_id}/action",
              json={"removeFloatingIp": {"address": address}})
        probe.until(address, 22, "closed")
        print(f"  floating IP {index + 1}/{changes}", file=sys.stderr)
    return seconds


def fixed_connects(probe: Probe, address: str, times: int) -> list[float]:
    """A TCP connect to the VM from its network's namespace, as the probe times it."""
    seconds = []
    for _ in range(times):
        asked = time.monotonic()
        probe.until(address, 22, "open")
        seconds.append(time.monotonic() - asked)
    return seconds


def vm_part(work: Path, args: argparse.Namespace, report: dict[str, Any]) -> None:
    cloud = Cloud(work)
    try:
        server_id, address, _, _ = boot_one(cloud, "probe")
        namespace = cloud.namespace()
        isolate(cloud, server_id)
        group_id = neutron_group(cloud, "bench")
        with probe_in(namespace) as probe:
            probe.until(address, 22, "closed")
            report["rules"] = rule_changes(cloud, probe, group_id, address, args.changes)
            report["rules_baseline"] = nft_baseline(namespace, cloud.prefix, args.changes)
            report["fixed_connect"] = fixed_connects(probe, address, args.changes)
        with outside(cloud.prefix) as world, probe_in(world) as probe:
            report["floating"] = floating_changes(cloud, probe, server_id, args.changes)
    except BaseException:
        RESULTS.mkdir(exist_ok=True)
        kept = RESULTS / f"network-labs-up-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
        kept.write_bytes((work / "labs-up.log").read_bytes())
        print(f"failed; the server's log is in {kept}", file=sys.stderr)
        raise
    finally:
        cloud.stop()


# -- many ports: the fake driver ----------------------------------------------------------
PORTS = "/network/v2.0/ports"
PAGE = "/network/v2.0/ports?limit=100&sort_key=name&sort_dir=asc"


def ports_part(work: Path, args: argparse.Namespace, report: dict[str, Any]) -> None:
    from compute import Cloud as FakeCloud  # bench/compute.py's: the fake driver

    cloud = FakeCloud(work, agents=1)
    try:
        with httpx.Client(base_url=cloud.url, headers=cloud.headers, timeout=60) as client:
            empty = lists(client, PORTS, "ports", args.lists)
            network_id = port_network(client, args.ports)
            made = make_ports(client, network_id, args.ports)
            renamed = renames(client, made.pop("ids"), args.lists)
            report["ports"] = {**made, **lists(client, PORTS, "ports", args.lists),
                               "page": lists(client, PAGE, "ports", args.lists),
                               "baseline": empty, "renames": renamed}
    finally:
        cloud.stop()


def port_network(client: httpx.Client, count: int) -> str:
    """A /20 network of the admin's project (room for `count` ports), its port quota
    lifted."""
    net = client.post("/network/v2.0/networks", json={"network": {"name": "bench"}})
    net.raise_for_status()
    made = net.json()["network"]
    client.post("/network/v2.0/subnets", json={"subnet": {
        "network_id": made["id"], "cidr": "10.200.0.0/20"}}).raise_for_status()
    client.put(f"/network/v2.0/quotas/{made['project_id']}", json={"quota": {
        "port": count + 100}}).raise_for_status()
    return str(made["id"])


def make_ports(client: httpx.Client, network_id: str, count: int,
               limit_s: float = 600) -> dict[str, Any]:
    """`count` ports made one after another: each create's seconds, and in all."""
    seconds, ids = [], []
    began = time.monotonic()
    for index in range(count):
        asked = time.monotonic()
        reply = client.post(PORTS, json={"port": {"network_id": network_id,
                                                  "name": f"p{index:05d}"}})
        seconds.append(time.monotonic() - asked)
        reply.raise_for_status()
        ids.append(reply.json()["port"]["id"])
        if time.monotonic() - began > limit_s:
            raise RuntimeError(f"{count} ports not made within {limit_s:.0f} s")
    return {"made": count, "made_s": time.monotonic() - began, "creates": seconds,
            "ids": ids}


def renames(client: httpx.Client, ids: list[str], times: int) -> list[float]:
    """A port's rename, `times` times (a write that allocates nothing)."""
    seconds = []
    for index in range(times):
        began = time.monotonic()
        client.put(f"{PORTS}/{ids[index % len(ids)]}", json={"port": {
            "name": f"r{index:05d}"}}).raise_for_status()
        seconds.append(time.monotonic() - began)
    return seconds


def lists(client: httpx.Client, path: str, key: str, times: int) -> dict[str, Any]:
    seconds, sizes = [], []
    for _ in range(times):
        began = time.monotonic()
        reply = client.get(path)
        seconds.append(time.monotonic() - began)
        reply.raise_for_status()
        sizes.append(len(reply.json()[key]))
    return {"path": path, "seconds": seconds, "listed": max(sizes)}


# -- the report -------------------------------------------------------------------------
def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:,.1f}"


def table(report: dict[str, Any]) -> str:
    rows: list[list[object]] = []
    if "rules" in report:
        for kind in ("add", "delete"):
            s = spread(report["rules"][kind])
            rows.append([f"rule {kind} → enforced ({s['count']})", ms(s["p50"]), ms(s["p99"])])
        base = spread(report["rules_baseline"]["seconds"])
        rows.append([f"baseline: nft -f of the network's ruleset "
                     f"({report['rules_baseline']['ruleset_lines']} lines)",
                     ms(base["p50"]), ms(base["p99"])])
    if "floating" in report:
        s = spread(report["floating"])
        rows.append([f"floating IP associated → TCP answers from outside ({s['count']})",
                     ms(s["p50"]), ms(s["p99"])])
        base = spread(report["fixed_connect"])
        rows.append(["baseline: TCP connect to the fixed IP from the network's namespace",
                     ms(base["p50"]), ms(base["p99"])])
    if "ports" in report:
        rows.extend(port_rows(report["ports"]))
    return markdown_table(["measure", "p50 ms", "p99 ms"], rows)


def port_rows(ports: dict[str, Any]) -> list[list[object]]:
    made, renamed = spread(ports["creates"]), spread(ports["renames"])
    rate = ports["made"] / ports["made_s"] if ports["made_s"] else 0.0
    s, page = spread(ports["seconds"]), spread(ports["page"]["seconds"])
    b = spread(ports["baseline"]["seconds"])
    per_s = ports["listed"] / s["p50"] if s["p50"] else 0.0
    return [
        [f"POST /v2.0/ports: {ports['made']} made ({rate:,.0f} ports/s)",
         ms(made["p50"]), ms(made["p99"])],
        ["baseline: PUT /v2.0/ports/{id} (a rename)", ms(renamed["p50"]),
         ms(renamed["p99"])],
        [f"GET /v2.0/ports: {ports['listed']} ports ({per_s:,.0f} ports/s at p50)",
         ms(s["p50"]), ms(s["p99"])],
        [f"GET /v2.0/ports?limit=100 sorted by name ({ports['page']['listed']} ports)",
         ms(page["p50"]), ms(page["p99"])],
        [f"baseline: GET /v2.0/ports before the ports ({ports['baseline']['listed']} ports)",
         ms(b["p50"]), ms(b["p99"])]]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=20, help="rule changes and "
                        "floating IP associations (default 20)")
    parser.add_argument("--ports", type=int, default=1000, help="ports made and listed")
    parser.add_argument("--lists", type=int, default=50, help="port lists timed")
    parser.add_argument("--quick", action="store_true", help="5 changes, 100 ports")
    parser.add_argument("--only", choices=("vm", "ports"), help="one part only")
    args = parser.parse_args(argv)
    if args.quick:
        args.changes, args.ports, args.lists = 5, 100, 20
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if os.geteuid() != 0:
        print("bench/network.py makes network namespaces: run it as root", file=sys.stderr)
        return 2
    report: dict[str, Any] = {
        "benchmark": "network", "started": datetime.now(UTC).isoformat(),
        "command": " ".join([".venv/bin/python", "bench/network.py",
                             *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine()}
    if args.only in (None, "vm"):
        with tempfile.TemporaryDirectory(prefix="labs-bench-network-") as tmp:
            vm_part(Path(tmp), args, report)
    if args.only in (None, "ports"):
        with tempfile.TemporaryDirectory(prefix="labs-bench-ports-") as tmp:
            ports_part(Path(tmp), args, report)
    print()
    print(table(report))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"network-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
