"""Draining a host of a server on a Labs network, for real: the control plane in one
process with two qemu agents on bridge networks (each its own name prefix, as two hosts),
a network and subnet made with the `openstack` CLI, a guest on it booted on the first
host (its qemu inside the network's namespace there), a file written in it, the first
host disabled, and `server migrate --live-migration --wait` moving it to the other: the
streams go through unix sockets and the agents' relays on loopback, with the move's key.
After it, the server is ACTIVE there, ssh reaches it from the network's namespace on the
new host, and the file is still there."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.compute.config import AgentOptions
from labs.network.agent.host import HostNetworking
from labs.network.config import NetworkOptions
from labs.wiring.agent import agent_on
from labs.wiring.host_network import bridge_driver
from tests.common.bus_helpers import wait_for
from tests.compute.conftest import Plane, make_plane
from tests.compute.qemu_helpers import kill_leftovers, labs_image, make_driver
from tests.compute.test_live_migration_qemu import BOOT_SECONDS, openstack, write_clouds
from tests.conftest import Cloud
from tests.e2e.test_vms import need
from tests.fuzzing import (
    mariadb_only,  # noqa: F401 -- one engine: MariaDB, as distributed
    serve,
)

pytestmark = pytest.mark.e2e
HOSTS = ("qa", "qb")


@pytest.fixture
def bridged_plane(cloud: Cloud, tmp_path: Path) -> Iterator[tuple[Plane, dict[str, str]]]:
    if os.geteuid() != 0:
        pytest.fail("the VM tests make network namespaces and bridges: run them as root")
    for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("dnsmasq", "dnsmasq-base"),
                          ("qemu-system-x86_64", "qemu-system-x86")):
        need(tool, package)
    prefixes = {host: f"m{uuid.uuid4().hex[:6]}" for host in HOSTS}
    drivers = {host: bridge_driver(AgentOptions(network_prefix=prefix), NetworkOptions())
               for host, prefix in prefixes.items()}
    try:
        image = str(labs_image())
        for plane in make_plane(cloud, tmp_path, hosts=()):
            for host in HOSTS:
                bus = plane._bus(f"compute.{host}")
                agent = agent_on(bus, host, "nova", make_driver(plane.state_dir / host),
                                 heartbeat_seconds=1.0, workers=4,
                                 network=HostNetworking(drivers[host]),
                                 image_files=lambda image_id: image)
                bus.start()
                agent.start()
                plane.agents[host] = agent
            yield plane, prefixes
    finally:
        for host in HOSTS:
            kill_leftovers(tmp_path / "agents" / host)
            drivers[host].remove_all()


def ssh_in(namespace: str, key: Path, address: str, command: str) -> str:
    argv = ["ip", "netns", "exec", namespace, "ssh", "-i", str(key), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", f"root@{address}", command]
    out: list[str] = []

    def ran() -> bool:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        out[:] = [done.stdout]
        return done.returncode == 0
    wait_for(ran, BOOT_SECONDS, f"ssh to {address} in {namespace}", interval=1.0)
    return out[0]


def test_drain_a_host_of_a_server_on_a_labs_network(
        bridged_plane: tuple[Plane, dict[str, str]], tmp_path: Path) -> None:
    plane, prefixes = bridged_plane
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True, timeout=60)
    plane.ok("POST", "/os-keypairs", "admin", json={"keypair": {
        "name": "k", "public_key": key.with_suffix(".pub").read_text()}})
    wait_for(lambda: len(plane.ok("GET", "/os-hypervisors", "admin")["hypervisors"]) == 2,
             30, "two hypervisors")
    with serve(plane.client.app) as url:
        clouds = write_clouds(tmp_path / "clouds.yaml", url)
        net = openstack(clouds, "network", "create", "drained-net")
        openstack(clouds, "subnet", "create", "--subnet-range", "192.168.79.0/24",
                  "--network", net["id"], "drained-v4")
        groups = plane.ok("GET", "/os-security-groups", "admin", version="2.35")
        default = next(g for g in groups["security_groups"] if g["name"] == "default")
        plane.ok("POST", "/os-security-group-rules", "admin", version="2.35",
                 json={"security_group_rule": {
                     "parent_group_id": default["id"], "ip_protocol": "tcp",
                     "from_port": 22, "to_port": 22, "cidr": "192.168.79.0/24"}})
        openstack(clouds, "compute", "service", "set", "--disable", "qb", "nova-compute",
                  output=False)  # the guest boots on qa
        server = plane.create("admin", name="netvm", key_name="k",
                              networks=[{"uuid": net["id"]}], wait=None)
        plane.wait(server["id"], "ACTIVE", "admin", timeout=BOOT_SECONDS)
        (address,) = plane.show(server["id"], "admin")["addresses"]["drained-net"]
        address = address["addr"]
        before = f"{prefixes['qa']}-net-"
        (namespace_a,) = [n for n in _namespaces() if n.startswith(before)]
        boot_id = ssh_in(namespace_a, key, address,
                         "echo before-the-move > /root/mark; sync; "
                         "cat /proc/sys/kernel/random/boot_id")
        openstack(clouds, "compute", "service", "set", "--enable", "qb", "nova-compute",
                  output=False)
        openstack(clouds, "compute", "service", "set", "--disable", "qa", "nova-compute",
                  output=False)
        openstack(clouds, "server", "migrate", "--live-migration", "--wait", server["id"],
                  output=False)
        shown = openstack(clouds, "server", "show", server["id"])
        listed = openstack(clouds, "server", "migration", "list", "--server", server["id"])
    assert shown["OS-EXT-SRV-ATTR:host"] == "qb" and shown["status"] == "ACTIVE"
    assert [(m["Source Compute"], m["Dest Compute"], m["Status"])
            for m in listed] == [("qa", "qb", "completed")]
    assert plane.agents["qa"].driver.list_instances() == []
    (namespace_b,) = [n for n in _namespaces() if n.startswith(f"{prefixes['qb']}-net-")]
    # the same guest, never rebooted, with what it wrote before the move
    assert ssh_in(namespace_b, key, address,
                  "cat /root/mark; cat /proc/sys/kernel/random/boot_id") == \
        "before-the-move\n" + boot_id
    plane.ok("DELETE", f"/servers/{server['id']}", "admin")
    plane.wait_gone(server["id"], "admin", timeout=60)


def _namespaces() -> list[str]:
    return [line.split()[0] for line in subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True,
        timeout=30).stdout.splitlines()]

