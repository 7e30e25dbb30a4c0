"""Draining a host with live migration, for real: the control plane in one process with two
qemu agents, a guest booted from the Labs image on the first, the first host disabled, the
guest live-migrated off it (the scheduler picks the other), and the guest still the same:
the same boot, the file written before the move still there, reached over ssh on its new
host."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labs.network.agent.host import HostNetworking
from labs.wiring.agent import agent_on
from tests.common.bus_helpers import wait_for
from tests.compute.conftest import Plane, make_plane
from tests.compute.qemu_helpers import kill_leftovers, labs_image, make_driver
from tests.conftest import ADMIN_PASSWORD, Cloud
from tests.e2e.conftest import BIN
from tests.fuzzing import (
    mariadb_only,  # noqa: F401 -- one engine: MariaDB, as distributed
    serve,
)

OPENSTACK = BIN / "openstack"

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


def openstack(clouds: Path, *args: str, output: bool = True) -> Any:
    """The unchanged `openstack` CLI as the cloud's admin; its JSON output."""
    done = subprocess.run([str(OPENSTACK), "--os-cloud", "plane", *args,
                           *(["-f", "json"] if output else [])],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "OS_CLIENT_CONFIG_FILE": str(clouds)})
    assert done.returncode == 0, f"openstack {' '.join(args)}: {done.stderr}"
    return json.loads(done.stdout) if output else done.stdout


def write_clouds(path: Path, url: str) -> Path:
    """The plane's catalog names http://testserver: the CLI is pointed at `url`."""
    path.write_text(json.dumps({"clouds": {"plane": {
        "auth": {"auth_url": f"{url}/identity/v3", "username": "admin",
                 "password": ADMIN_PASSWORD, "project_name": "admin",
                 "user_domain_name": "Default", "project_domain_name": "Default"},
        "compute_endpoint_override": f"{url}/compute/v2.1",
        "image_endpoint_override": f"{url}/image",
        "network_endpoint_override": f"{url}/network",
        "identity_endpoint_override": f"{url}/identity/v3",
        "compute_api_version": "2.100"}}}))
    return path


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

    with serve(plane.client.app) as url:
        clouds = write_clouds(tmp_path / "clouds.yaml", url)
        openstack(clouds, "compute", "service", "set", "--disable", "qa", "nova-compute",
                  output=False)
        started = time.monotonic()
        openstack(clouds, "server", "migrate", "--live-migration", "--wait", server["id"],
                  output=False)
        took = time.monotonic() - started
        shown = openstack(clouds, "server", "show", server["id"])
        listed = openstack(clouds, "server", "migration", "list", "--server", server["id"])
    assert shown["OS-EXT-SRV-ATTR:host"] == "qb" and shown["status"] == "ACTIVE"
    assert shown["OS-EXT-STS:power_state"] in (1, "Running")
    assert [(m["Source Compute"], m["Dest Compute"], m["Status"], m["Type"])
            for m in listed] == [("qa", "qb", "completed", "live-migration")]
    assert plane.agents["qa"].driver.list_instances() == []
    # the same guest, never rebooted, with what it wrote before the move
    assert ssh(plane, "qb", server["id"], key,
               "cat /root/mark; cat /proc/sys/kernel/random/boot_id") == \
        "before-the-move\n" + boot_id
    print(f"live migration took {took:.1f} s through the CLI (with its polling)")
    plane.ok("DELETE", f"/servers/{server['id']}", "admin")
    plane.wait_gone(server["id"], "admin", timeout=60)
