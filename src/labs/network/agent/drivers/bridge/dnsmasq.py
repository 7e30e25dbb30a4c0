"""dnsmasq for one network: DHCP with static leases only, DNS for the project's names
(and, with upstream servers, the cloud's other names through the agent's DNS relay).

One dnsmasq per network runs inside the network's namespace, bound to the bridge and
listening on the gateway address. Everything it reads lives in one directory of the
driver's state: `dnsmasq.conf` (written whole; a change restarts dnsmasq), `dhcp-hosts`
(``mac,ip,hostname`` per port) and `hosts` (``ip fqdn hostname`` per port), both reread
on SIGHUP. dnsmasq daemonises itself, so it outlives the agent; `dnsmasq.pid` finds it
again. dnsmasq drops root after start and rereads the hosts files as its own user, so the
state directory must be readable by it (the driver checks).

What dnsmasq writes stays bounded: no lease file (every lease is static), no line per DHCP
exchange or DNS query (no `log-dhcp`, no `log-queries`, `quiet-dhcp`), and its log
(`dnsmasq.log`, for what it refuses and its warnings) is cut at LOG_MAX_BYTES each time the
network is brought in line and every few minutes (the agent's ``bound_logs`` round), its
last part kept once in `dnsmasq.log.1`. dnsmasq appends
(O_APPEND), so the file is emptied in place and it writes on at the new end.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

from labs.network.agent import netns
from labs.network.specs import NetworkError, NetworkSpec, PortSpec

log = logging.getLogger("labs.network.agent.drivers.bridge.dnsmasq")

STOP_TIMEOUT = 5.0
START_TIMEOUT = 5.0
LEASE_TIME = "12h"
LOG_MAX_BYTES = 1 << 20


def write_file(path: Path, text: str) -> bool:
    """Write `text` to `path` whole (via a temporary file); False if it was already so."""
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(0o644)
    os.replace(tmp, path)
    return True


class Dnsmasq:
    """The dnsmasq of one network, whose files live in `directory`."""

    def __init__(self, directory: Path, namespace: str, bridge: str) -> None:
        self.directory = directory
        self.namespace = namespace
        self.bridge = bridge
        self.conf = directory / "dnsmasq.conf"
        self.pid_file = directory / "dnsmasq.pid"
        self.dhcp_hosts = directory / "dhcp-hosts"
        self.hosts = directory / "hosts"
        self.log_file = directory / "dnsmasq.log"
        self.previous_log = directory / "dnsmasq.log.1"

    def config(self, spec: NetworkSpec, upstream_dns: Iterable[str] = ()) -> str:
        """The configuration for the network, one option a line. dnsmasq answers the
        names of the network's ports itself and asks `upstream_dns` (dnsmasq's
        ``ADDRESS[#PORT]``) for every other name, the rest of the project's domain
        included."""
        upstream = list(upstream_dns)
        lines = [
            f"interface={self.bridge}",
            "bind-interfaces",
            "except-interface=lo",
            f"listen-address={spec.gateway}",
            f"pid-file={self.pid_file}",
            *(self._dhcp(spec) if spec.dhcp else []),
            f"domain={spec.dns_domain}",
            # without upstream servers, dnsmasq alone answers for the project's domain
            *([] if upstream else [f"local=/{spec.dns_domain}/"]),
            "domain-needed",  # a bare name without a domain never leaves the network
            "no-hosts",
            f"addn-hosts={self.hosts}",
            "no-resolv",
            *(f"server={s}" for s in upstream),
            f"log-facility={self.log_file}",
            "quiet-dhcp",  # no line per routine exchange: a guest cannot fill the disk
        ]
        return "\n".join(lines) + "\n"

    def _dhcp(self, spec: NetworkSpec) -> list[str]:
        """DHCP's lines: a static lease for each port, the gateway as router, and as
        name server unless the subnet names its own; the subnet's host routes as
        classless static routes (option 121, and Microsoft's 249), which a client
        takes instead of the router option: so the default route via the gateway is
        one of them."""
        net = ipaddress.IPv4Network(spec.cidr)
        routes = ""
        if spec.host_routes:
            pairs = list(spec.host_routes)
            if all(destination != "0.0.0.0/0" for destination, _ in pairs):
                pairs.append(("0.0.0.0/0", spec.gateway))
            routes = ",".join(f"{destination},{hop}" for destination, hop in pairs)
        return [
            f"dhcp-range=set:labs,{net.network_address},static,{net.netmask},{LEASE_TIME}",
            f"dhcp-hostsfile={self.dhcp_hosts}",
            "dhcp-authoritative",
            "leasefile-ro",  # every lease is static: nothing to remember
            f"dhcp-option=tag:labs,option:router,{spec.gateway}",
            "dhcp-option=tag:labs,option:dns-server,"
            + ",".join(spec.dns_servers or (spec.gateway,)),
            f"dhcp-option=tag:labs,option:domain-search,{spec.dns_domain}",
            f"dhcp-option=tag:labs,option:mtu,{spec.mtu}",
            *([f"dhcp-option=tag:labs,option:classless-static-route,{routes}",
               f"dhcp-option=tag:labs,249,{routes}"] if routes else []),
        ]

    def write_hosts(self, spec: NetworkSpec, ports: Iterable[PortSpec]) -> bool:
        """Write the leases and names of `ports`; True if anything changed."""
        ports = sorted(ports, key=lambda p: ipaddress.IPv4Address(p.ip))
        leases = "".join(f"{p.mac},{p.ip},{p.hostname}\n" for p in ports)
        names = "".join(f"{p.ip} {p.hostname}.{spec.dns_domain} {p.hostname}\n" for p in ports)
        changed = write_file(self.dhcp_hosts, leases)
        return write_file(self.hosts, names) or changed

    def pid(self) -> int | None:
        """The running dnsmasq's pid, or None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if netns.pid_alive(pid, str(self.conf)) else None

    def ensure(self, spec: NetworkSpec, ports: Iterable[PortSpec],
               upstream_dns: Iterable[str] = ()) -> None:
        """Run dnsmasq with the current configuration and leases: start it if it is not
        running, restart it if its configuration changed, else reload the leases."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        self.bound_log()
        hosts_changed = self.write_hosts(spec, ports)
        conf_changed = write_file(self.conf, self.config(spec, upstream_dns))
        pid = self.pid()
        if pid is not None and conf_changed:
            self.stop()
            pid = None
        if pid is None:
            self.start()
        elif hosts_changed:
            self.reload()

    def bound_log(self, max_bytes: int = LOG_MAX_BYTES) -> None:
        """Keep the log under `max_bytes`: when over, its last `max_bytes` go into
        `dnsmasq.log.1` (replacing it) and the log is emptied in place."""
        try:
            if self.log_file.stat().st_size <= max_bytes:
                return
            with self.log_file.open("rb") as log_in:
                log_in.seek(-max_bytes, os.SEEK_END)
                kept = log_in.read()
            tmp = self.previous_log.with_name(self.previous_log.name + ".tmp")
            tmp.write_bytes(kept)
            tmp.chmod(0o640)  # as dnsmasq makes its log
            os.replace(tmp, self.previous_log)
            os.truncate(self.log_file, 0)
        except FileNotFoundError:
            return
        log.info("dnsmasq log of %s passed %d bytes: kept in %s, emptied", self.namespace,
                 max_bytes, self.previous_log.name)

    def start(self) -> None:
        netns.require_tools("dnsmasq")
        self.pid_file.unlink(missing_ok=True)
        netns.run(["dnsmasq", f"--conf-file={self.conf}"], netns=self.namespace)
        deadline = time.monotonic() + START_TIMEOUT
        while self.pid() is None:
            if time.monotonic() > deadline:
                raise NetworkError(
                    f"dnsmasq for {self.namespace} did not start in {START_TIMEOUT:.0f} s; "
                    f"see {self.log_file}")
            time.sleep(0.02)
        log.info("started dnsmasq (pid %s) in %s", self.pid(), self.namespace)

    def reload(self) -> None:
        """Make dnsmasq reread the leases and names (SIGHUP)."""
        pid = self.pid()
        if pid is None:
            raise NetworkError(f"dnsmasq for {self.namespace} is not running")
        os.kill(pid, signal.SIGHUP)
        log.info("reloaded dnsmasq (pid %s) in %s", pid, self.namespace)

    def stop(self) -> None:
        """Stop dnsmasq (TERM, then KILL after STOP_TIMEOUT). Not running is fine."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.pid() is not None:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        self.pid_file.unlink(missing_ok=True)
        log.info("stopped dnsmasq (pid %s) in %s", pid, self.namespace)
