"""Draining a host with live migration, for real: the control plane in one process with two
qemu agents, a guest booted from the Labs image on the first, the first host disabled, the
guest live-migrated off it (the scheduler picks the other), and the guest still the same:
the same boot, the file written before the move still there, reached over ssh on its new
host."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.network.agent.host import HostNetworking
from labs.wiring.agent import agent_on
from tests.common.bus_helpers import wait_for
from tests.compute.conftest import Plane, make_plane
from tests.compute.qemu_helpers import kill_leftovers, labs_image, make_driver
from tests.conftest import Cloud

BOOT_SECONDS = 180.0


def add_qemu_agent(plane: Plane, host: str) -> None:
    bus = plane._bus(f"compute.{host}")
    image = str(labs_image())
    agent = agent_on(bus, host, "nova", make_driver(plane.state_dir / host),
                     heartbeat_seconds=1.0, workers=4, network=HostNetworking(None),
                     image_files=lambda image_id: image)
    bus.start()
    agent.start()
    plane.agents[host] = agent


@pytest.fixture
def qemu_plane(cloud: Cloud, tmp_path: Path) -> Iterator[Plane]:
    try:
        yield from make_plane(cloud, tmp_path, hosts=())
    finally:
        for host in ("qa", "qb"):
            kill_leftovers(tmp_path / "agents" / host)


def ssh(plane: Plane, host: str, server_id: str, key: Path, command: str) -> str:
    address, port = plane.agents[host].driver.ssh_address(server_id)  # type: ignore[attr-defined]
    argv = ["ssh", "-i", str(key), "-p", str(port), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", f"root@{address}", command]
    out: list[str] = []

    def ran() -> bool:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        out[:] = [done.stdout]
        return done.returncode == 0
    wait_for(ran, BOOT_SECONDS, f"ssh to {server_id} on {host}", interval=1.0)
    return out[0]


def test_drain_a_host_by_live_migration(qemu_plane: Plane, tmp_path: Path) -> None:
    plane = qemu_plane
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True, timeout=60)
    plane.ok("POST", "/os-keypairs", "admin", json={"keypair": {
        "name": "k", "public_key": key.with_suffix(".pub").read_text()}})
    add_qemu_agent(plane, "qa")
    server = plane.create("admin", name="drained", key_name="k", wait=None)
    plane.wait(server["id"], "ACTIVE", "admin", timeout=BOOT_SECONDS)
    add_qemu_agent(plane, "qb")
    wait_for(lambda: len(plane.ok("GET", "/os-hypervisors", "admin")["hypervisors"]) == 2,
             30, "two hypervisors")
    boot_id = ssh(plane, "qa", server["id"], key,
                  "echo before-the-move > /root/mark; cat /proc/sys/kernel/random/boot_id")

    services = plane.ok("GET", "/os-services?binary=nova-compute", "admin")["services"]
    qa = next(s for s in services if s["host"] == "qa")
    plane.ok("PUT", f"/os-services/{qa['id']}", "admin", json={"status": "disabled"})
    started = time.monotonic()
    moved = plane.call("POST", f"/servers/{server['id']}/action", "admin", json={
        "os-migrateLive": {"host": None, "block_migration": "auto"}})
    assert moved.status_code == 202, moved.text

    def arrived() -> bool:
        shown = plane.show(server["id"], "admin")
        return shown["OS-EXT-SRV-ATTR:host"] == "qb" and shown["OS-EXT-STS:task_state"] is None
    wait_for(arrived, 120, "the server on qb", interval=0.2)
    took = time.monotonic() - started
    shown = plane.show(server["id"], "admin")
    assert shown["status"] == "ACTIVE" and shown["OS-EXT-STS:power_state"] == 1
    assert plane.agents["qa"].driver.list_instances() == []
    # the same guest, never rebooted, with what it wrote before the move
    assert ssh(plane, "qb", server["id"], key,
               "cat /root/mark; cat /proc/sys/kernel/random/boot_id") == \
        "before-the-move\n" + boot_id
    print(f"live migration took {took:.1f} s through the API")
    plane.ok("DELETE", f"/servers/{server['id']}", "admin")
    plane.wait_gone(server["id"], "admin", timeout=60)
