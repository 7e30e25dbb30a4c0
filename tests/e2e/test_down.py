"""A way down: a stopped `labs up` leaves its VMs and host networks for adoption;
`labs status` says so (and what the cloud's database says), another cloud on the same
network prefix refuses to start (naming the cloud and the command that removes its
state), and `labs down` leaves nothing on the host. Real qemu, namespaces, dnsmasq and
nftables, under a prefix of the test's own."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labs.wiring.host_network import BRIDGE_STATE
from tests.common.bus_helpers import wait_for
from tests.compute.qemu_helpers import labs_image
from tests.e2e.conftest import BIN, start_labs_up
from tests.e2e.test_vms import _cleanup, need


@dataclass
class Clouds:
    a: Path
    b: Path
    prefix: str
    env: dict[str, str]

    def labs(self, *args: str, data_dir: Path,
             timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "labs"), *args, "--data-dir", str(data_dir)],
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **self.env})


@pytest.fixture
def clouds(tmp_path: Path) -> Iterator[Clouds]:
    if os.geteuid() != 0:
        pytest.fail("labs down's test makes network namespaces and bridges: run it as root")
    for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("dnsmasq", "dnsmasq-base"),
                          ("qemu-system-x86_64", "qemu-system-x86")):
        need(tool, package)
    labs_image()
    prefix = f"d{uuid.uuid4().hex[:6]}"
    env = {"LABS_AGENT_DRIVER": "qemu", "LABS_AGENT_NETWORK_DRIVER": "bridge",
           "LABS_AGENT_NETWORK_PREFIX": prefix, "LABS_AGENT_HOST": "downhost"}
    found = Clouds((tmp_path / "a").resolve(), (tmp_path / "b").resolve(), prefix, env)
    try:
        yield found
    finally:
        _cleanup(prefix, found.a)
        _cleanup(prefix, found.b)


def host_view(prefix: str, data_dir: Path) -> dict[str, list[str]]:
    """What the host shows of the cloud of `data_dir` on `prefix`."""
    def run(*argv: str) -> list[str]:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                              check=False).stdout.splitlines()
    namespaces = [n for n in run("ip", "netns", "list") if n.startswith(f"{prefix}-")]
    links = [line for line in run("ip", "-o", "link") if f"{prefix}-" in line]
    tables = [t for t in run("nft", "list", "tables") if prefix in t]
    qemu = [p for p in run("pgrep", "-af", "qemu-system") if str(data_dir) in p]
    dnsmasq = [p for p in run("pgrep", "-af", "dnsmasq") if f"/{prefix}/" in p]
    files = [str(p) for p in (BRIDGE_STATE / prefix).rglob("*")]
    return {"namespaces": namespaces, "links": links, "nft tables": tables, "qemu": qemu,
            "dnsmasq": dnsmasq, "files": files}


def test_down_status_and_a_second_cloud(clouds: Clouds) -> None:
    a, b = clouds.a, clouds.b
    cloud = start_labs_up(a, clouds.env)
    try:
        cloud.openstack("server", "create", "--image", "labs", "--flavor", "g1.nano",
                        "--wait", "vm")
        up = clouds.labs("status", data_dir=a)
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"running (pid {cloud.process.pid}) at {cloud.url}" in up.stdout
        # what its database says: the agent's host up, and the VM
        assert "  nova-compute on downhost (zone nova): enabled, up, last heartbeat " \
            in up.stdout, up.stdout
        assert "  downhost (KVM): 1 VM(s)" in up.stdout or \
            "  downhost (QEMU): 1 VM(s)" in up.stdout, up.stdout
        assert "VMs in the database: 1 (ACTIVE 1)" in up.stdout, up.stdout
        refused = clouds.labs("down", data_dir=a)
        assert refused.returncode != 0 and "still runs" in refused.stderr, refused.stderr
    finally:
        cloud.stop()
    assert cloud.process.returncode == 0
    log = sorted(a.parent.glob("labs-up-*.log"))[-1].read_text()
    assert "Traceback" not in log, log[-3000:]
    assert f"`labs down --data-dir {a}` removes them" in log.splitlines()[-1]

    # what A left: its VM and its network, which `labs status` reports
    left = host_view(clouds.prefix, a)
    assert left["qemu"] and left["dnsmasq"] and len(left["namespaces"]) == 2, left
    status = clouds.labs("status", data_dir=a)
    assert status.returncode != 0 and f"labs down --data-dir {a}" in status.stdout, status
    assert "nova-compute on downhost (zone nova): enabled, not running (labs up is not)" \
        in status.stdout, status.stdout

    # B on the same prefix refuses at start, naming A and the way to remove its state
    started = clouds.labs("up", "--bind", "127.0.0.1:0", data_dir=b, timeout=60)
    assert started.returncode not in (0, None), started.stderr
    assert f"labs down --data-dir {a}" in started.stderr, started.stderr
    assert "[agent] network_prefix" in started.stderr and "Traceback" not in started.stderr
    assert clouds.labs("status", data_dir=b).returncode != 0
    # and so does B's agent on its own (`labs agent`, over RabbitMQ)
    agent = clouds.labs("agent", "--bus", "amqp://guest:guest@127.0.0.1:5672//", data_dir=b,
                        timeout=60)
    assert agent.returncode == 2, agent.stderr
    assert f"labs down --data-dir {a}" in agent.stderr and "Traceback" not in agent.stderr

    # down removes everything; a second down finds nothing; status is clean
    down = clouds.labs("down", data_dir=a)
    assert down.returncode == 0, down.stdout + down.stderr
    assert host_view(clouds.prefix, a) == {k: [] for k in left}
    assert not (BRIDGE_STATE / clouds.prefix).exists()
    assert (a / "labs.db").exists()  # the data directory stays
    again = clouds.labs("down", data_dir=a)
    assert again.returncode == 0 and "nothing of the cloud" in again.stdout, again
    clean = clouds.labs("status", data_dir=a)
    assert clean.returncode == 0 and "cleanly down" in clean.stdout, clean.stdout

    # A comes back on its kept data directory: its VM is SHUTOFF, and starts again on
    # a network made anew
    cloud = start_labs_up(a, clouds.env)
    try:
        wait_for(lambda: cloud.openstack_json("server", "show", "vm")["status"] == "SHUTOFF",
                 60, "vm SHUTOFF after labs down", interval=0.5)
        cloud.openstack("server", "start", "vm")
        wait_for(lambda: cloud.openstack_json("server", "show", "vm")["status"] == "ACTIVE",
                 60, "vm ACTIVE again", interval=0.5)
        again_up = host_view(clouds.prefix, a)
        assert again_up["qemu"] and again_up["dnsmasq"] and again_up["namespaces"], again_up
    finally:
        cloud.stop()
    assert clouds.labs("down", data_dir=a).returncode == 0
    assert host_view(clouds.prefix, a) == {k: [] for k in left}

    # now B starts on the prefix
    start_labs_up(b, clouds.env).stop()
    assert not (BRIDGE_STATE / clouds.prefix).exists()  # B made nothing: no claim stays
    assert clouds.labs("status", data_dir=b).returncode == 0
    # --delete-data takes the data directory too
    gone = clouds.labs("down", "--delete-data", data_dir=b)
    assert gone.returncode == 0 and "deleted the data directory" in gone.stdout, gone
    assert not b.exists()
