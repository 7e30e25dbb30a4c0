"""The cloud bench/boot.py measures: `labs up` with the qemu driver and bridge networks.

`Cloud` starts it on a loopback port (its network namespaces and bridges named with a
prefix of its own), as the cloud's admin makes a key pair and finds the Labs image, and
on `stop` ends it and removes whatever it left. The helpers boot a server and wait for
ssh, and delete one and wait until everything it had is gone. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from _load import admin_token, free_port
from labs.compute.config import AgentOptions
from labs.network.config import NetworkOptions
from labs.wiring.host_network import BRIDGE_STATE, bridge_driver

LABS = Path(sys.executable).with_name("labs")
LATEST = {"OpenStack-API-Version": "compute 2.100"}
WAIT_S = 120.0
GUEST_SAYS = re.compile(r"labs: \[([\d.]+)\] (first boot|ssh host key)")


class Cloud:
    def __init__(self, work: Path, settings: dict[str, str] | None = None) -> None:
        """`settings`: more LABS_* variables for the cloud."""
        self.work = work
        self.data = work / "data"
        self.prefix = f"b{uuid.uuid4().hex[:6]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LABS_", "OS_"))}
        env.update({"LABS_AGENT_DRIVER": "qemu", "LABS_AGENT_NETWORK_DRIVER": "bridge",
                    "LABS_AGENT_NETWORK_PREFIX": self.prefix, "LABS_LOG_LEVEL": "WARNING",
                    "LABS_COMPUTE_QUOTA_INSTANCES": "-1", "LABS_COMPUTE_QUOTA_CORES": "-1",
                    "LABS_COMPUTE_QUOTA_RAM": "-1", **(settings or {})})
        self.log = (work / "labs-up.log").open("wb")
        self.proc = subprocess.Popen([str(LABS), "up", "--data-dir", str(self.data),
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

    def built(self, server_id: str, interval: float = 0.1) -> dict[str, Any]:
        """The server once it is ACTIVE or in ERROR."""
        shown: dict[str, Any] = {}

        def done() -> bool:
            shown.update(self.show(server_id))
            return shown.get("status") in ("ACTIVE", "ERROR")
        wait(done, f"{server_id} built", interval)
        return shown

    def show(self, server_id: str) -> dict[str, Any]:
        reply = self.client.get(f"/servers/{server_id}")
        if reply.status_code == 404:
            return {}
        reply.raise_for_status()
        server: dict[str, Any] = reply.json()["server"]
        return server

    def guest_clock(self, server_id: str) -> tuple[dict[str, float], list[str]]:
        """The guest's own uptime (s) when its first-boot program began and when its ssh
        server was ready, from the lines that program prints on the console; and those
        lines."""
        reply = self.client.post(f"/servers/{server_id}/action",
                                 json={"os-getConsoleOutput": {"length": 300}})
        reply.raise_for_status()
        output = reply.json().get("output", "")
        found: dict[str, float] = {}
        for said in GUEST_SAYS.finditer(output):
            key = "first_line" if said[2] == "first boot" else "ssh_ready"
            found.setdefault(key, float(said[1]))
        return found, [line for line in output.splitlines() if line.startswith("labs: [")]

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


def wait(predicate: Any, what: str, interval: float, limit: float = WAIT_S) -> float:
    began = time.perf_counter()
    deadline = began + limit
    while time.perf_counter() < deadline:
        if predicate():
            return time.perf_counter() - began
        time.sleep(interval)
    raise RuntimeError(f"no {what} within {limit:.0f} s")


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


def delete_servers(cloud: Cloud, server_ids: list[str]) -> float:
    """Delete them all at once; the seconds until the API and the host have none left."""
    began = time.perf_counter()
    for server_id in server_ids:
        cloud.client.delete(f"/servers/{server_id}").raise_for_status()
    wait(lambda: not any(cloud.show(s) or qemu_pid(s) for s in server_ids),
         f"{len(server_ids)} servers gone", 0.2)
    return time.perf_counter() - began
