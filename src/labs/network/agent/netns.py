"""Network namespaces and the commands run in them (iproute2, sysctl, nft).

Every command goes through `run`, which turns a missing tool, a non-zero exit or a hang
into a NetworkError naming the command and its error output.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from labs.network.specs import NetworkError

log = logging.getLogger("labs.network.agent.netns")

NETNS_DIR = Path("/run/netns")
#: The Debian package that brings each tool, for the message when one is missing.
PACKAGES = {"ip": "iproute2", "nft": "nftables", "dnsmasq": "dnsmasq-base"}
TIMEOUT = 20.0


def require_tools(*tools: str) -> None:
    """NetworkError naming the Debian packages to install unless every tool is found."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        packages = " ".join(sorted({PACKAGES.get(t, t) for t in missing}))
        raise NetworkError(
            f"{', '.join(missing)} not found: install the Debian packages {packages}")


def run(argv: Sequence[str], *, netns: str | None = None, input: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command (inside `netns` when given) and return it; NetworkError on failure
    unless `check` is false."""
    cmd = [*(("ip", "netns", "exec", netns) if netns else ()), *argv]
    try:
        done = subprocess.run(cmd, input=input, capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
    except FileNotFoundError:
        raise NetworkError(
            f"{cmd[0]} not found: install the Debian package {PACKAGES.get(cmd[0], cmd[0])}"
        ) from None
    except subprocess.TimeoutExpired:
        raise NetworkError(f"{' '.join(cmd)} did not finish in {TIMEOUT:.0f} s") from None
    if check and done.returncode != 0:
        raise NetworkError(
            f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def ip(netns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """An iproute2 command inside `netns`."""
    return run(["ip", "-n", netns, *args], check=check)


def exists(netns: str) -> bool:
    return (NETNS_DIR / netns).exists()


def names(prefix: str) -> list[str]:
    """The namespaces whose names start with `prefix`."""
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))
    except FileNotFoundError:
        return []


def ensure(netns: str, *, router: bool) -> None:
    """Create the namespace unless it exists, with loopback up; a router forwards IPv4."""
    if not exists(netns):
        run(["ip", "netns", "add", netns])
        log.info("created network namespace %s", netns)
    ip(netns, "link", "set", "lo", "up")
    sysctl(netns, "net.ipv4.ip_forward", "1" if router else "0")
    # Bridged IPv4 goes through the inet hooks, where the ports' stateful filters are.
    sysctl(netns, "net.bridge.bridge-nf-call-iptables", "1")
    sysctl(netns, "net.ipv6.conf.all.disable_ipv6", "1")
    sysctl(netns, "net.ipv6.conf.default.disable_ipv6", "1")
    # Strict reverse-path filtering: a packet from the public side claiming a VM's address
    # (to pass a security group as a member, through a floating IP) is dropped.
    sysctl(netns, "net.ipv4.conf.all.rp_filter", "1")
    sysctl(netns, "net.ipv4.conf.default.rp_filter", "1")
    # ARP answers only for the addresses of the interface asked on, from its own address:
    # the public side does not learn the project networks' gateways.
    for conf in ("all", "default"):
        sysctl(netns, f"net.ipv4.conf.{conf}.arp_ignore", "1")
        sysctl(netns, f"net.ipv4.conf.{conf}.arp_announce", "2")


def delete(netns: str) -> None:
    """Remove the namespace and its interfaces (veth peers elsewhere go too). Missing is
    fine. Processes still inside keep it alive, so stop them first."""
    if exists(netns):
        run(["ip", "netns", "del", netns])
        log.info("deleted network namespace %s", netns)


def sysctl(netns: str, key: str, value: str) -> None:
    run(["sysctl", "-q", "-w", f"{key}={value}"], netns=netns)


def link_exists(netns: str, device: str) -> bool:
    return exists(netns) and ip(netns, "link", "show", "dev", device, check=False).returncode == 0


def delete_link(netns: str, device: str) -> None:
    """Remove an interface (and its veth peer); missing is fine."""
    if link_exists(netns, device):
        ip(netns, "link", "del", "dev", device)


def addresses(netns: str, device: str) -> set[str]:
    """The IPv4 addresses on an interface, as 'address/prefix'."""
    out = ip(netns, "-o", "-4", "addr", "show", "dev", device).stdout
    return {line.split()[3] for line in out.splitlines() if len(line.split()) > 3}


def set_address(netns: str, device: str, cidr: str) -> None:
    """Add 'address/prefix' to the interface unless it is there."""
    if cidr not in addresses(netns, device):
        ip(netns, "addr", "add", cidr, "dev", device)


def pid_alive(pid: int, marker: str) -> bool:
    """Whether process `pid` runs and its command line contains `marker` (a pid file can
    outlive its process and the number be reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return marker.encode() in cmdline and os.path.exists(f"/proc/{pid}")
