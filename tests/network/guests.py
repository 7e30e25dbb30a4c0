"""Stand-in VMs for the network tests: namespaces holding the guest end of a veth port.

A guest runs real Debian tools inside its namespace: busybox udhcpc for DHCP, busybox
ping and nslookup, and small Python listeners and clients for TCP. Every command is
bounded in time.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from labs.network.agent.drivers.base import Attachment

COMMAND_TIMEOUT = 8.0
#: Prints the lease's values, one `name=value` a line, and configures the interface.
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  bound|renew)
    env | grep -E '^(ip|mask|router|dns|domain|search|hostname|mtu|staticroutes)=' \
      > "$LEASE_FILE"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route add default via "$router" dev "$interface"
    ;;
esac
exit 0
"""
#: Accepts connections for a few seconds and answers each with the caller's address.
LISTENER = """
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
s.settimeout(0.2)
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    try:
        conn, peer = s.accept()
    except OSError:
        continue
    conn.sendall(peer[0].encode())
    conn.close()
"""
#: Connects, prints what the listener answered; exits 1 when it cannot connect.
CLIENT = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as c:
        c.settimeout(float(sys.argv[3]))
        print(c.recv(100).decode())
except OSError as exc:
    print(exc, file=sys.stderr)
    sys.exit(1)
"""
#: Asks argv[1]:53 over UDP for "labs.test" (type A); exits 0 if anything answers within
#: argv[2] seconds, 1 if nothing does. argv[3], when given, is the source address.
DNS_PROBE = """
import socket, sys
query = bytes.fromhex("abcd01000001000000000000046c61627304746573740000010001")
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    if len(sys.argv) > 3:
        s.bind((sys.argv[3], 0))
    s.settimeout(float(sys.argv[2]))
    s.sendto(query, (sys.argv[1], 53))
    try:
        s.recv(4096)
    except OSError:
        sys.exit(1)
"""
#: Sends each frame of argv[2] (hex, comma-separated) on interface argv[1] as it is.
SEND_FRAMES = """
import socket, sys
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
    s.bind((sys.argv[1], 0))
    for frame in sys.argv[2].split(","):
        s.send(bytes.fromhex(frame))
"""
#: Prints the markers (argv[2], comma-separated) found in frames arriving on interface
#: argv[1] during argv[3] seconds; prints "ready" first.
SNIFF = """
import socket, sys, time
markers = [m.encode() for m in sys.argv[2].split(",")]
seen = set()
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)) as s:
    s.bind((sys.argv[1], 0))
    s.settimeout(0.1)
    print("ready", flush=True)
    end = time.monotonic() + float(sys.argv[3])
    while time.monotonic() < end:
        try:
            frame = s.recv(65536)
        except OSError:
            continue
        seen |= {m for m in markers if m in frame}
print(" ".join(sorted(m.decode() for m in seen)))
"""


def sh(*argv: str, netns: str | None = None,
       timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
    cmd = [*(("ip", "netns", "exec", netns) if netns else ()), *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def must(*argv: str, netns: str | None = None) -> str:
    done = sh(*argv, netns=netns)
    assert done.returncode == 0, f"{' '.join(argv)} failed: {done.stderr}"
    return done.stdout


class Host:
    """A namespace the test made (a guest, or a host on the public side)."""

    def __init__(self, netns: str) -> None:
        self.netns = netns

    def ping(self, address: str) -> bool:
        return sh("busybox", "ping", "-c", "1", "-W", "1", address,
                  netns=self.netns).returncode == 0

    def connect(self, address: str, port: int, timeout: float = 1.0) -> str | None:
        """What a listener at address:port answered (the source address it saw), or None
        if the connection failed."""
        done = sh(sys.executable, "-c", CLIENT, address, str(port), str(timeout),
                  netns=self.netns)
        return done.stdout.strip() if done.returncode == 0 else None

    def asks_dns(self, address: str, timeout: float = 1.0, source: str | None = None) -> bool:
        """Whether a DNS server at `address` answers a query from here."""
        return sh(sys.executable, "-c", DNS_PROBE, address, str(timeout),
                  *((source,) if source else ()), netns=self.netns).returncode == 0

    def send_frames(self, frames: list[bytes], interface: str = "eth0") -> None:
        """Send Ethernet frames as they are, whatever addresses they carry."""
        must(sys.executable, "-c", SEND_FRAMES, interface,
             ",".join(f.hex() for f in frames), netns=self.netns)

    def listening(self, port: int, address: str = "0.0.0.0",
                  seconds: float = 8.0) -> AbstractContextManager[None]:
        return listen(self.netns, address, port, seconds)


@contextmanager
def listen(netns: str, address: str, port: int, seconds: float) -> Iterator[None]:
    """Run a listener in `netns` while the caller's block runs (at most `seconds`)."""
    proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", LISTENER,
                             address, str(port), str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # the listener exits after `seconds` at the latest
            assert line.strip() == "ready", proc.communicate(timeout=COMMAND_TIMEOUT)[1]
            yield
        finally:
            proc.kill()
            proc.communicate(timeout=COMMAND_TIMEOUT)


@contextmanager
def sniffing(netns: str, markers: list[str], seconds: float = 3.0,
             interface: str = "eth0") -> Iterator[set[str]]:
    """Watch `interface` in `netns` while the caller's block runs; afterwards the set
    holds the markers seen in any arriving frame."""
    seen: set[str] = set()
    proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", SNIFF,
                             interface, ",".join(markers), str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.communicate(timeout=COMMAND_TIMEOUT)[1]
        yield seen
        out, err = proc.communicate(timeout=seconds + COMMAND_TIMEOUT)
        assert proc.returncode == 0, err
        seen.update(out.split())


class Guest(Host):
    """A stand-in VM: a namespace with the port's veth end as eth0."""

    def __init__(self, netns: str, attachment: Attachment, workdir: Path) -> None:
        super().__init__(netns)
        self.attachment = attachment
        self.workdir = workdir
        assert attachment.peer is not None, "a guest needs a veth port"
        must("ip", "netns", "add", netns)
        must("ip", "-n", attachment.netns, "link", "set", attachment.peer, "netns", netns,
             "name", "eth0")
        must("ip", "-n", netns, "link", "set", "lo", "up")
        must("ip", "-n", netns, "link", "set", "eth0", "up")

    def dhcp(self) -> dict[str, str]:
        """Ask for a lease with udhcpc (search domain, MTU and classless static routes
        requested too) and return the lease's values; the address and default route get
        configured."""
        script = self.workdir / f"{self.netns}.udhcpc"
        lease = self.workdir / f"{self.netns}.lease"
        script.write_text(UDHCPC_SCRIPT)
        script.chmod(0o755)
        done = subprocess.run(
            ["ip", "netns", "exec", self.netns, "env", f"LEASE_FILE={lease}",
             "busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "1",
             "-O", "search", "-O", "mtu", "-O", "staticroutes", "-s", str(script)],
            capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
        assert done.returncode == 0, f"no DHCP lease: {done.stdout}{done.stderr}"
        return dict(line.split("=", 1) for line in lease.read_text().splitlines())

    def resolve(self, name: str, server: str) -> str:
        done = sh("busybox", "nslookup", "-type=a", name, server, netns=self.netns)
        return done.stdout + done.stderr


def wait_until(check: object, what: str, seconds: float = 5.0) -> None:
    """Poll `check()` every 50 ms until true, at most `seconds`."""
    assert callable(check)
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
