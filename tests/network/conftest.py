"""Fixtures for the network tests: the control plane with one fake host (`plane`) and
the ``refresh_network`` casts it sends (`casts`), for the API tests; for the bridge
driver tests, a driver with a prefix of its own, stand-in VMs, a host on the public
side, and clean-up of every namespace and process they made."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from labs.network.agent import netns
from labs.network.agent.drivers.bridge.driver import BridgeDriver
from labs.network.agent.drivers.bridge.uplink import EXTERNAL_BRIDGE
from labs.network.specs import NetworkSpec, PortSpec, SecurityRule
from tests.compute.conftest import Plane, make_plane, record_casts
from tests.conftest import Cloud
from tests.network.guests import Guest, Host, must

TOOLS = {"ip": "iproute2", "nft": "nftables", "dnsmasq": "dnsmasq-base", "busybox": "busybox"}
CLOUD_RANGE = "10.68.0.0/16"
METADATA_PORT = 8775


@pytest.fixture(scope="session", autouse=True)
def network_tools() -> None:
    if os.geteuid() != 0:
        pytest.fail("the network tests make namespaces, bridges and nftables rules: run "
                    "them as root")
    missing = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the network tests need the Debian packages {' '.join(missing)}: "
                    f"apt-get install {' '.join(missing)}")


@pytest.fixture(name="plane")
def plane_fixture(cloud: Cloud, tmp_path: Path) -> Iterator[Plane]:
    yield from make_plane(cloud, tmp_path, hosts=("h1",))


@pytest.fixture
def casts(plane: Plane, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """The ``refresh_network`` casts sent, in order."""
    return record_casts(plane, monkeypatch)


@pytest.fixture
def prefix() -> str:
    return "t" + uuid.uuid4().hex[:7]


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path: dnsmasq's own user must be able to read the leases.
    path = Path(tempfile.mkdtemp(prefix="labs-network-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def driver(prefix: str, state_dir: Path) -> Iterator[BridgeDriver]:
    """The driver under test; afterwards nothing with its prefix is left."""
    drv = BridgeDriver(state_dir / "state", prefix=prefix, metadata_port=METADATA_PORT)
    try:
        yield drv
    finally:
        clean_up(drv, prefix)


def clean_up(drv: BridgeDriver, prefix: str) -> None:
    """Delete the driver's networks and every namespace named with `prefix` (the
    stand-in VMs' too), killing what runs in them."""
    try:
        for spec in drv.list_networks():
            drv.delete_network(spec.id)
    finally:
        for name in netns.names(f"{prefix}-"):
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                                  text=True, check=False).stdout.split()
            for pid in pids:
                subprocess.run(["kill", "-9", pid], check=False)
            subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def make_guest(driver: BridgeDriver, prefix: str,
               state_dir: Path) -> Callable[[PortSpec], Guest]:
    """Plug a veth port and put its guest end into a new stand-in VM."""
    def make(port: PortSpec) -> Guest:
        attachment = driver.plug(port, kind="veth")
        return Guest(f"{prefix}-vm-{port.hostname}", attachment, state_dir)
    return make


@pytest.fixture
def make_outside(driver: BridgeDriver, prefix: str) -> Callable[[], Host]:
    """A host on the public side (172.24.4.100) on the driver's external bridge, which
    exists once a network with an external IP does."""
    return lambda: outside_host(driver, f"{prefix}-outside")


def outside_host(driver: BridgeDriver, name: str) -> Host:
    must("ip", "netns", "add", name)
    must("ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name",
         "outside0", "netns", driver.external_namespace)
    must("ip", "-n", driver.external_namespace, "link", "set", "outside0", "master",
         EXTERNAL_BRIDGE, "up")
    must("ip", "-n", name, "addr", "add", "172.24.4.100/24", "dev", "eth0")
    must("ip", "-n", name, "link", "set", "eth0", "up")
    must("ip", "-n", name, "link", "set", "lo", "up")
    return Host(name)


def network(name: str, third_octet: int, external_ip: str | None = None) -> NetworkSpec:
    return NetworkSpec(id=f"net-{name}-{uuid.uuid4().hex[:8]}", project_id=name,
                       cidr=f"10.68.{third_octet}.0/24", gateway=f"10.68.{third_octet}.1",
                       dns_domain=f"{name}.labs.test", external_ip=external_ip)


def port(spec: NetworkSpec, host: int, hostname: str) -> PortSpec:
    base = spec.cidr.rsplit(".", 1)[0]
    return PortSpec(id=str(uuid.uuid4()), network_id=spec.id,
                    mac=f"fa:16:3e:00:{int(base.split('.')[2]):02x}:{host:02x}",
                    ip=f"{base}.{host}", hostname=hostname, instance_id=str(uuid.uuid4()))


def default_rules() -> list[SecurityRule]:
    """The default group: everything from its members, ICMP from anywhere, ssh from the
    cloud's fixed range."""
    return [SecurityRule(remote_group="default"),
            SecurityRule(protocol="icmp"),
            SecurityRule(protocol="tcp", port_min=22, port_max=22, remote_cidr=CLOUD_RANGE)]
