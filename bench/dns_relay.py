"""Benchmark the way VMs reach the cloud's names: a network's dnsmasq and the agent's
DNS relay in front of the embedded authoritative server.

The cloud's zone (``labs.internal.``, ``--names`` A records) is served by the embedded
server on the host's loopback. A bridge network (namespace, bridge, dnsmasq with the
relay as its upstream) and a stand-in VM (a namespace with a veth port on the bridge)
are made, and ``dnsperf`` loads each hop for ``--seconds`` with the same settings
(8 clients, 100 queries outstanding, the names in turn):

- **direct**: the embedded server, from the host;
- **relay**: the relay, from inside the network's namespace (as dnsmasq reaches it);
- **VM → dnsmasq**: the network's dnsmasq, from the stand-in VM; with more names than
  dnsmasq caches (150), nearly every query goes through the relay. Then the same with
  one client and one query at a time: the latency a VM's lookup sees.

    sudo .venv/bin/python bench/dns_relay.py          # about 40 s
    sudo .venv/bin/python bench/dns_relay.py --seconds 3

Needs root, dnsperf, iproute2, nftables and dnsmasq (Debian). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
# bench/dns.py sits beside this file: `import dns` must find dnspython, not that script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
import dns.name  # noqa: E402, F401

sys.path.insert(0, str(BENCH))
from _load import dnsperf, machine, markdown_table  # noqa: E402
from labs.dns.backends.base import RecordSet, Zone  # noqa: E402
from labs.dns.backends.embedded import EmbeddedBackend  # noqa: E402
from labs.network.agent.dns_relay.relay import RELAY_ADDRESS, RELAY_PORT, DnsRelay  # noqa: E402
from labs.network.agent.drivers.bridge.driver import BridgeDriver  # noqa: E402
from labs.network.specs import NetworkSpec, PortSpec  # noqa: E402

RESULTS = BENCH / "results"
ZONE = "labs.internal."
GUEST_IP = "10.68.250.10"


def cloud_zone(count: int) -> tuple[Zone, list[str]]:
    names = [f"vm{i}.bench.{ZONE}" for i in range(count)]
    soa = RecordSet(ZONE, "SOA", 3600, (f"ns1.{ZONE} hostmaster.{ZONE} 1 3600 600 86400 60",))
    ns = RecordSet(ZONE, "NS", 3600, (f"ns1.{ZONE}",))
    records = [RecordSet(name, "A", 60, (f"10.68.{i // 250}.{i % 250 + 2}",))
               for i, name in enumerate(names)]
    return Zone(ZONE, 1, (soa, ns, *records)), names


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    zone, names = cloud_zone(args.names)
    server = EmbeddedBackend("127.0.0.1", 0)
    prefix = "b" + uuid.uuid4().hex[:6]
    state = work / "network"
    state.mkdir()
    driver = BridgeDriver(state, prefix=prefix,
                          upstream_dns=(f"{RELAY_ADDRESS}#{RELAY_PORT}",))
    relay = DnsRelay((server.address, server.port), cloud_domains=[ZONE])
    guest = f"{prefix}-guest"
    try:
        server.publish(zone)
        spec = NetworkSpec(id="net-bench", project_id="bench", cidr="10.68.250.0/24",
                           gateway="10.68.250.1", dns_domain=f"bench.{ZONE.rstrip('.')}")
        driver.ensure_network(spec)
        attachment = driver.plug(PortSpec(id="port-bench", network_id=spec.id,
                                          mac="fa:16:3e:00:fa:0a", ip=GUEST_IP,
                                          hostname="guest", instance_id="bench-guest"),
                                 kind="veth")
        assert attachment.peer is not None
        subprocess.run(["ip", "netns", "add", guest], check=True)
        for step in (["ip", "-n", attachment.netns, "link", "set", attachment.peer, "netns",
                      guest, "name", "eth0"],
                     ["ip", "-n", guest, "addr", "add", f"{GUEST_IP}/24", "dev", "eth0"],
                     ["ip", "-n", guest, "link", "set", "eth0", "up"],
                     ["ip", "-n", guest, "link", "set", "lo", "up"]):
            subprocess.run(step, check=True)
        namespace = driver.namespace(spec.id)
        relay.add_network(spec.id, namespace)
        return {
            "direct": dnsperf(server.address, server.port, names, args.seconds, work),
            "relay": dnsperf(RELAY_ADDRESS, RELAY_PORT, names, args.seconds, work,
                             netns=namespace),
            "vm_dnsmasq": dnsperf(spec.gateway, 53, names, args.seconds, work,
                                  netns=guest),
            "vm_one_at_a_time": dnsperf(spec.gateway, 53, names[::-1], args.seconds, work,
                                        netns=guest, clients=1, outstanding=1),
        }
    finally:
        relay.close()
        subprocess.run(["ip", "netns", "del", guest], check=False, capture_output=True)
        driver.remove_all()
        server.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--names", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/dns_relay.py makes network namespaces: run it as root", file=sys.stderr)
        return 2
    report: dict[str, Any] = {"benchmark": "dns_relay",
                              "started": datetime.now(UTC).isoformat(),
                              "command": " ".join(["sudo .venv/bin/python",
                                                   "bench/dns_relay.py",
                                                   *(argv or sys.argv[1:])]),
                              "machine": machine(), "names": args.names}
    with tempfile.TemporaryDirectory(prefix="labs-bench-relay-") as tmp:
        Path(tmp).chmod(0o755)  # dnsmasq's own user reads the network's files
        report.update(run(args, Path(tmp)))
    rows = [[label, f"{report[key]['qps']:,.0f}", f"{report[key]['avg_latency_ms']} ms",
             report[key]["lost"], report[key]["response_codes"]]
            for label, key in (("direct: the embedded server", "direct"),
                               ("the relay (in the namespace)", "relay"),
                               ("VM → dnsmasq → relay", "vm_dnsmasq"),
                               ("the same, one query at a time", "vm_one_at_a_time"))]
    print(markdown_table(["path", "queries/s", "avg latency", "lost", "codes"], rows))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"dns_relay-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
