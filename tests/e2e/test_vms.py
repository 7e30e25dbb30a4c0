"""Real VMs: the unchanged `openstack` CLI against `labs up` with the qemu driver and
bridge networks. The VMs boot the Labs image under qemu (TCG here), get their address by
DHCP and their name and keys from the metadata service; ssh reaches them from inside
their network's namespace. Nothing leaves the namespaces the cloud makes.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import openstack.config
import pytest
from openstack.connection import Connection

from labs.compute.config import AgentOptions
from labs.compute.virt.ksm import KSM_DIR
from labs.network.config import NetworkOptions
from labs.wiring.host_network import BRIDGE_STATE, bridge_driver
from tests.common.bus_helpers import wait_for
from tests.compute.qemu_helpers import labs_image
from tests.e2e.conftest import BIN, RunningCloud, SharedClouds, start_labs_up

BOOT_SECONDS = 120.0  # a TCG boot takes ~5 s alone; far longer on a loaded machine
USER_ENV = {"LABS_AGENT_DRIVER": "qemu", "LABS_AGENT_NETWORK_DRIVER": "user",
            "LABS_AGENT_HOST": "userhost"}
USER_DATA = "#!/bin/sh\necho user-data-ran-on $(hostname) > /root/user-data-proof\n"


def need(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.fail(f"{program} is needed: apt-get install {package}")
    return path


@dataclass
class VmCloud:
    cloud: RunningCloud
    data_dir: Path
    env: dict[str, str]
    prefix: str
    key: Path

    def restart(self) -> None:
        self.cloud = start_labs_up(self.data_dir, self.env)

    def namespaces(self) -> list[str]:
        """The network namespaces of this cloud's project networks."""
        return [line.split()[0] for line in subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=True,
            timeout=30).stdout.splitlines() if line.startswith(f"{self.prefix}-net-")]

    def namespace(self, address: str | None = None) -> str:
        """The namespace of the network holding `address` (None: the only network)."""
        names = self.namespaces()
        if address is None:
            assert len(names) == 1, names
            return names[0]
        subnet = ipaddress.ip_network(f"{address}/24", strict=False)
        for name in names:
            shown = subprocess.run(["ip", "-n", name, "-j", "addr"], capture_output=True,
                                   text=True, check=True, timeout=30).stdout
            if any(ipaddress.ip_address(a["local"]) in subnet
                   for link in json.loads(shown) for a in link.get("addr_info", [])
                   if a.get("family") == "inet"):
                return name
        raise AssertionError(f"no network namespace holds {address}: {names}")

    def ssh_argv(self, address: str, command: str, namespace: str | None = None,
                 connect_timeout: int = 5) -> list[str]:
        return ["ip", "netns", "exec", namespace or self.namespace(address),
                need("ssh", "openssh-client"), "-i", str(self.key), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", f"ConnectTimeout={connect_timeout}", "-o", "LogLevel=ERROR",
                f"root@{address}", command]

    def ssh(self, address: str, command: str, timeout: float = BOOT_SECONDS,
            namespace: str | None = None) -> str:
        """Run `command` as root in the VM at `address`, from inside its namespace (or
        `namespace`); tried again until `timeout` (the guest may still be booting)."""
        argv = self.ssh_argv(address, command, namespace)
        last: list[subprocess.CompletedProcess[str]] = []

        def ran() -> bool:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                                  check=False)
            last[:] = [done]
            return done.returncode == 0
        wait_for(ran, timeout, f"ssh root@{address} {command!r} "
                 f"({last[0].stderr if last else ''})", interval=1.0)
        return last[0].stdout

    def ssh_refused(self, address: str, namespace: str | None = None) -> bool:
        """One ssh attempt (3 s to connect) that does not get in."""
        done = subprocess.run(self.ssh_argv(address, "true", namespace, connect_timeout=3),
                              capture_output=True, text=True, timeout=60, check=False)
        return done.returncode != 0


def _cleanup(prefix: str, data_dir: Path) -> None:
    """Whatever a failed test left: the cloud's qemu processes and its networks."""
    for line in subprocess.run(["pgrep", "-af", "qemu-system"], capture_output=True,
                               text=True, timeout=30).stdout.splitlines():
        pid, _, cmd = line.partition(" ")
        if str(data_dir) in cmd:
            try:
                os.killpg(int(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                os.kill(int(pid), signal.SIGKILL)
    if (BRIDGE_STATE / prefix).exists():
        bridge_driver(AgentOptions(network_prefix=prefix), NetworkOptions()).remove_all()


def need_vm_host() -> None:
    """Root, the host tools and the Labs image (built or taken from the cache) for
    bridge-network VMs."""
    if os.geteuid() != 0:
        pytest.fail("the VM tests make network namespaces and bridges: run them as root")
    for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("dnsmasq", "dnsmasq-base"),
                          ("qemu-system-x86_64", "qemu-system-x86")):
        need(tool, package)
    labs_image()


def bridge_env(prefix: str) -> dict[str, str]:
    return {"LABS_AGENT_DRIVER": "qemu", "LABS_AGENT_NETWORK_DRIVER": "bridge",
            "LABS_AGENT_NETWORK_PREFIX": prefix, "LABS_AGENT_HOST": "vmhost",
            # the admin's zone tools.test. is one of the cloud's, for its VMs
            "LABS_NETWORK_DNS_CLOUD_DOMAINS": "tools.test",
            "LABS_NETWORK_API_IN_CATALOG": "true"}


def stop_vm_cloud(state: VmCloud) -> None:
    state.cloud.stop()
    _cleanup(state.prefix, state.data_dir)


def start_vm_cloud(base: Path) -> VmCloud:
    """A bridge-network cloud with the admin's keypair k (private key `base`/id)."""
    prefix = f"t{uuid.uuid4().hex[:6]}"
    env = bridge_env(prefix)
    data_dir = base / "data"
    state = VmCloud(start_labs_up(data_dir, env), data_dir, env, prefix, base / "id")
    try:
        state.cloud.openstack("keypair", "create", "--private-key", str(state.key), "k")
        state.key.chmod(0o600)
    except BaseException:
        stop_vm_cloud(state)
        raise
    return state


@pytest.fixture(name="vm_cloud")
def vm_cloud_fixture(shared_clouds: SharedClouds) -> VmCloud:
    """The bridge-network cloud the VM modules share (see SharedClouds)."""
    need_vm_host()
    return shared_clouds.share("bridge", start_vm_cloud, stop_vm_cloud)


@pytest.fixture(scope="module")
def own_vm_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VmCloud]:
    """A bridge-network cloud of its own, for a test that kills and restarts it."""
    need_vm_host()
    base = tmp_path_factory.mktemp("labs-vms")
    prefix = f"t{uuid.uuid4().hex[:6]}"
    env = bridge_env(prefix)
    data_dir = base / "data"
    state = VmCloud(start_labs_up(data_dir, env), data_dir, env, prefix, base / "id")
    try:
        yield state
    finally:
        stop_vm_cloud(state)


def start_user_cloud(base: Path) -> tuple[RunningCloud, Path]:
    """A cloud on qemu's user-mode network with the admin's keypair k (private key
    `base`/id); `base` holds its log and its data directory."""
    cloud = start_labs_up(base / "data", USER_ENV)
    try:
        cloud.openstack("keypair", "create", "--private-key", str(base / "id"), "k")
        (base / "id").chmod(0o600)
    except BaseException:
        stop_user_cloud((cloud, base))
        raise
    return cloud, base


def stop_user_cloud(shared: tuple[RunningCloud, Path]) -> None:
    shared[0].stop()
    _cleanup("unused", shared[1] / "data")


@pytest.fixture(name="user_cloud")
def user_cloud_fixture(shared_clouds: SharedClouds) -> tuple[RunningCloud, Path]:
    """The user-mode-network cloud the VM modules share (see SharedClouds): root not
    needed."""
    labs_image()
    return shared_clouds.share("user", start_user_cloud, stop_user_cloud)


def boot(vms: VmCloud, name: str, *extra: str) -> dict[str, str]:
    server = vms.cloud.openstack_json("server", "create", "--image", "labs", "--flavor",
                                      "g1.nano", "--key-name", "k", "--wait", *extra, name)
    assert server["status"] == "ACTIVE", server
    return dict(server)


def fixed_ip(vms: VmCloud, name: str) -> str:
    addresses = vms.cloud.openstack_json("server", "show", name)["addresses"]
    return str(addresses["lan"][0])


def boot_id(vms: VmCloud, address: str) -> str:
    return vms.ssh(address, "cat /proc/sys/kernel/random/boot_id").strip()


def qemu_of(instance_id: str) -> list[str]:
    return [line for line in subprocess.run(
        ["pgrep", "-af", "qemu-system"], capture_output=True, text=True,
        timeout=30).stdout.splitlines() if instance_id in line]


def test_vm_life_cycle(own_vm_cloud: VmCloud, tmp_path: Path) -> None:
    vms, cloud = own_vm_cloud, own_vm_cloud.cloud
    cloud.openstack("keypair", "create", "--private-key", str(vms.key), "k")
    vms.key.chmod(0o600)
    user_data = tmp_path / "user-data"
    user_data.write_text(USER_DATA)
    vm1 = boot(vms, "vm1", "--user-data", str(user_data))
    address = fixed_ip(vms, "vm1")
    assert address.startswith("10.68."), address

    # the guest's own account of itself: console, hostname, FQDN, user data
    wait_for(lambda: "LABS-READY" in cloud.openstack("console", "log", "show", "vm1").stdout,
             BOOT_SECONDS, "the ready marker on vm1's console", interval=1.0)
    console = cloud.openstack("console", "log", "show", "vm1").stdout
    assert re.search(r"^LABS-READY vm1 vm1\.admin\.labs\.internal$", console, re.M), console
    assert vms.ssh(address, "hostname").strip() == "vm1"
    assert vms.ssh(address, "hostname -f").strip() == "vm1.admin.labs.internal"
    assert vms.ssh(address, "cat /root/user-data-proof").strip() == "user-data-ran-on vm1"
    assert "search admin.labs.internal" in vms.ssh(address, "cat /etc/resolv.conf")
    assert labs_ssh(vms.data_dir, vms.env, vms.key, "vm1", "hostname").strip() == "vm1"

    # power operations really power-cycle the guest
    first = boot_id(vms, address)
    cloud.openstack("server", "reboot", "--wait", "vm1")
    second = boot_id(vms, address)
    assert second != first
    cloud.openstack("server", "stop", "vm1")
    wait_for(lambda: cloud.openstack_json("server", "show", "vm1")["status"] == "SHUTOFF",
             BOOT_SECONDS, "vm1 SHUTOFF", interval=1.0)
    assert cloud.openstack_json("server", "show", "vm1")["OS-EXT-STS:power_state"] in (
        "Shutdown", 4)
    # the console of a stopped guest keeps its end (drained before it shut down)
    whole = cloud.openstack("console", "log", "show", "vm1").stdout.splitlines()
    assert len(whole) > 3 and any("LABS-READY" in line for line in whole)
    assert cloud.openstack("console", "log", "show", "--lines", "3",
                           "vm1").stdout.splitlines() == whole[-3:]
    cloud.openstack("server", "start", "vm1")
    wait_for(lambda: cloud.openstack_json("server", "show", "vm1")["status"] == "ACTIVE",
             BOOT_SECONDS, "vm1 ACTIVE", interval=1.0)
    third = boot_id(vms, address)
    assert third not in (first, second)
    # pause freezes the guest where it is: no answer while paused, the same boot after
    cloud.openstack("server", "pause", "vm1")
    wait_for(lambda: cloud.openstack_json("server", "show", "vm1")["status"] == "PAUSED",
             BOOT_SECONDS, "vm1 PAUSED", interval=1.0)
    assert vms.ssh_refused(address)
    cloud.openstack("server", "unpause", "vm1")
    wait_for(lambda: cloud.openstack_json("server", "show", "vm1")["status"] == "ACTIVE",
             BOOT_SECONDS, "vm1 ACTIVE", interval=1.0)
    assert boot_id(vms, address) == third

    # a snapshot goes to the image service; a rebuild boots a fresh disk, same address
    snap = cloud.openstack_json("server", "image", "create", "--name", "vm1-snap", "--wait",
                                "vm1")
    image = cloud.openstack_json("image", "show", snap["id"])
    assert image["status"] == "active" and image["disk_format"] == "qcow2", image
    assert image["size"] > 0
    vms.ssh(address, "touch /var/lib/labs/before-rebuild")
    cloud.openstack("server", "rebuild", "--image", "labs", "--wait", "vm1")
    assert boot_id(vms, address) != third
    assert vms.ssh(address, "ls /var/lib/labs/before-rebuild 2>/dev/null; hostname"
                   ).strip() == "vm1"

    # a second VM of the project reaches the first
    boot(vms, "vm2")
    address2 = fixed_ip(vms, "vm2")
    assert address2 != address
    assert "0% packet loss" in vms.ssh(address2, f"ping -c 2 -W 2 {address}")
    # ... and knows it by name (its network's dnsmasq answers the project's names)
    assert address in vms.ssh(address2, "nslookup vm1.admin.labs.internal")

    # with three VMs running, the agent dies with the whole all-in-one: the VMs keep
    # running, and a new agent adopts them
    vm3 = boot(vms, "vm3")
    address3 = fixed_ip(vms, "vm3")
    cloud.process.send_signal(signal.SIGKILL)
    cloud.process.wait(timeout=30)
    cloud.stop()  # closes its output
    for name, at in (("vm1", address), ("vm2", address2), ("vm3", address3)):
        assert vms.ssh(at, "hostname").strip() == name
    # ... and one of them dies while no agent watches: after the restart it is SHUTOFF
    for line in qemu_of(vm3["id"]):
        os.kill(int(line.split()[0]), signal.SIGKILL)
    wait_for(lambda: qemu_of(vm3["id"]) == [], 30, "vm3's qemu gone", interval=0.2)
    vms.restart()
    cloud = vms.cloud
    for name in ("vm1", "vm2"):
        shown = cloud.openstack_json("server", "show", name)
        assert shown["status"] == "ACTIVE" and shown["OS-EXT-STS:power_state"] in (
            "Running", 1), shown
    wait_for(lambda: cloud.openstack_json("server", "show", "vm3")["status"] == "SHUTOFF",
             30, "vm3 SHUTOFF after the agent found it dead", interval=0.5)

    # delete leaves nothing: no qemu process, tap, lease or file
    namespace = vms.namespace()
    for name, server_id in [("vm1", vm1["id"])] + [
            (n, cloud.openstack_json("server", "show", n)["id"]) for n in ("vm2", "vm3")]:
        cloud.openstack("server", "delete", "--wait", name)
        assert qemu_of(server_id) == []
        assert not list(vms.data_dir.glob(f"agent/**/{server_id}"))
    links = subprocess.run(["ip", "-n", namespace, "-j", "link"], capture_output=True,
                           text=True, check=True, timeout=30).stdout
    assert [link["ifname"] for link in json.loads(links)
            if link["ifname"].startswith("tap")] == []
    leases = "".join(p.read_text() for p in (BRIDGE_STATE / vms.prefix).rglob("dhcp-hosts"))
    assert not {address, address2, address3} & set(re.findall(r"[0-9.]+", leases))
    ruleset = subprocess.run(["ip", "netns", "exec", namespace, "nft", "list", "ruleset"],
                             capture_output=True, text=True, check=True, timeout=30).stdout
    assert not {address, address2, address3} & set(re.findall(r"[0-9.]+", ruleset))


def ping(namespace: str, address: str) -> bool:
    done = subprocess.run(["ip", "netns", "exec", namespace, need("busybox", "busybox"),
                           "ping", "-c", "1", "-W", "2", address], capture_output=True,
                          text=True, timeout=30, check=False)
    return done.returncode == 0


@pytest.fixture(name="outside")
def outside_fixture(vm_cloud: VmCloud) -> Iterator[Callable[[], str]]:
    """Makes a namespace standing for the world outside the cloud: a veth on the cloud's
    public bridge (br-ext in the cloud's external namespace, which exists once a project
    network does), 172.24.4.200/24."""
    name, ext = f"{vm_cloud.prefix}-out", f"{vm_cloud.prefix}-ext"
    run = [["ip", "netns", "add", name],
           ["ip", "link", "add", "o" + vm_cloud.prefix, "type", "veth", "peer", "name",
            "i" + vm_cloud.prefix],
           ["ip", "link", "set", "o" + vm_cloud.prefix, "netns", ext],
           ["ip", "-n", ext, "link", "set", "o" + vm_cloud.prefix, "master", "br-ext", "up"],
           ["ip", "link", "set", "i" + vm_cloud.prefix, "netns", name],
           ["ip", "-n", name, "addr", "add", "172.24.4.200/24", "dev", "i" + vm_cloud.prefix],
           ["ip", "-n", name, "link", "set", "i" + vm_cloud.prefix, "up"]]

    def make() -> str:
        for argv in run:
            subprocess.run(argv, check=True, capture_output=True, timeout=30)
        return name

    try:
        yield make
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30,
                       check=False)
        subprocess.run(["ip", "-n", ext, "link", "del", "o" + vm_cloud.prefix],
                       capture_output=True, timeout=30, check=False)


def test_security_groups_floating_ips_and_projects(vm_cloud: VmCloud,
                                                   outside: Callable[[], str]) -> None:
    """A server made by openstacksdk with ``auto_ip`` answers from outside on its
    floating IP; ssh through it once a group lets TCP 22 in from anywhere, blocked again
    when the rule goes and back when it returns (the `openstack` CLI, through the network
    API); the default group's rules; another project's VM."""
    vms, cloud = vm_cloud, vm_cloud.cloud
    if not vms.key.exists():
        cloud.openstack("keypair", "create", "--private-key", str(vms.key), "k")
        vms.key.chmod(0o600)
    conn = Connection(config=openstack.config.OpenStackConfig(
        config_files=[str(cloud.clouds_yaml)]).get_one("labs"))
    try:
        made = conn.create_server("web", image="labs", flavor="g1.nano", key_name="k",
                                  auto_ip=True, wait=True, timeout=BOOT_SECONDS)
        shown = conn.get_server(made.id)
        assert shown is not None
        address = shown.public_v4  # the floating IP auto_ip gave it
        assert address and address.startswith("172.24.4."), address
        web = fixed_ip(vms, "web")
        world = outside()
        wait_for(lambda: ping(world, address), 30, f"ping {address} from outside",
                 interval=0.5)
        assert not ping(world, web)  # the fixed IP stays private
        assert vms.ssh(web, "hostname").strip() == "web"

        # ssh from outside: the default group lets TCP 22 in from the cloud's range only;
        # a group with a rule from anywhere opens it, and the rule's delete closes it
        assert vms.ssh_refused(address, world)
        cloud.openstack("security", "group", "create", "ssh-world")
        rule = cloud.openstack_json("security", "group", "rule", "create", "--protocol",
                                    "tcp", "--dst-port", "22", "ssh-world")
        assert rule["remote_ip_prefix"] == "0.0.0.0/0"
        cloud.openstack("server", "add", "security", "group", "web", "ssh-world")
        assert vms.ssh(address, "hostname", timeout=30, namespace=world).strip() == "web"
        cloud.openstack("security", "group", "rule", "delete", rule["id"])
        wait_for(lambda: vms.ssh_refused(address, world), 30, "ssh from outside blocked",
                 interval=1.0)
        cloud.openstack("security", "group", "rule", "create", "--protocol", "tcp",
                        "--dst-port", "22", "ssh-world")
        assert vms.ssh(address, "hostname", timeout=30, namespace=world).strip() == "web"
        cloud.openstack("server", "remove", "security", "group", "web", "ssh-world")
        wait_for(lambda: vms.ssh_refused(address, world), 30, "ssh-world's rules gone",
                 interval=1.0)

        # the default group lets TCP 22 in from the cloud's range; without that rule,
        # ssh from the gateway is dropped, and with it back, it works again
        # the admin sees every project's default group (the shared cloud has others)
        default = conn.get_security_group(
            "default", filters={"project_id": conn.current_project_id})
        assert default is not None
        ssh_rule = next(r for r in default["security_group_rules"]
                        if r["protocol"] == "tcp" and r["port_range_min"] == 22)
        assert ssh_rule["remote_ip_prefix"] == "10.68.0.0/16"
        conn.delete_security_group_rule(ssh_rule["id"])
        wait_for(lambda: vms.ssh_refused(web), 30, "ssh to web blocked", interval=1.0)
        conn.create_security_group_rule(default["id"], port_range_min=22,
                                        port_range_max=22, protocol="tcp",
                                        remote_ip_prefix="10.68.0.0/16")
        assert vms.ssh(web, "hostname", timeout=30).strip() == "web"

        # releasing the floating IP ends the way in from outside
        (fip,) = conn.list_floating_ips({"floating_ip_address": address})
        conn.delete_floating_ip(fip["id"])
        wait_for(lambda: not ping(world, address), 30, f"{address} gone", interval=0.5)

        # another project's VM is on a network of its own: it cannot reach web
        cloud.openstack("project", "create", "other")
        cloud.openstack("role", "add", "--user", "admin", "--project", "other", "admin")
        env_other = ["--os-project-name", "other"]
        cloud.openstack(*env_other, "server", "create", "--image", "labs", "--flavor",
                        "g1.nano", "--key-name", "k", "--wait", "stranger")
        stranger = str(cloud.openstack_json(*env_other, "server", "show", "stranger")[
            "addresses"]["lan"][0])
        assert vms.namespace(stranger) != vms.namespace(web)
        assert vms.ssh(stranger, "hostname").strip() == "stranger"
        tried = vms.ssh(stranger, f"ping -c 2 -W 2 {web} >/dev/null 2>&1; echo rc=$?")
        assert tried.strip() not in ("", "rc=0"), tried

        # ... but it knows web by name and by address, and a zone made with Designate:
        # its network's dnsmasq asks the cloud's DNS server through the agent's relay
        named = vms.ssh(stranger, "nslookup web.admin.labs.internal")
        assert re.search(rf"Address:\s+{re.escape(web)}\b", named), named
        reverse = vms.ssh(stranger, f"nslookup {web}")
        assert "web.admin.labs.internal" in reverse, reverse
        cloud.openstack("zone", "create", "--email", "ops@tools.test", "tools.test.")
        cloud.openstack("recordset", "create", "--type", "A", "--record", "192.0.2.7",
                        "tools.test.", "www")
        wait_for(lambda: "192.0.2.7" in vms.ssh(stranger, "nslookup www.tools.test || true"),
                 30, "www.tools.test from the VM", interval=1.0)
        gone = vms.ssh(stranger, "nslookup nowhere.tools.test 2>&1; echo rc=$?")
        assert "NXDOMAIN" in gone and "rc=0" not in gone, gone
        cloud.openstack("zone", "delete", "tools.test.")
        cloud.openstack(*env_other, "server", "delete", "--wait", "stranger")
        cloud.openstack("server", "delete", "--wait", "web")
    finally:
        conn.close()


def labs_ssh(data_dir: Path, env: dict[str, str], key: Path, server: str,
             *command: str) -> str:
    done = subprocess.run([str(BIN / "labs"), "ssh", "--data-dir", str(data_dir), "-i",
                           str(key), server, *command], capture_output=True, text=True,
                          timeout=60, check=False, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_user_mode_network(user_cloud: tuple[RunningCloud, Path]) -> None:
    """The unprivileged all-in-one's network: qemu's user mode, metadata from the config
    drive, ssh through a loopback port that `labs ssh` finds."""
    cloud, base = user_cloud
    env, key = USER_ENV, base / "id"
    # the agent turns KSM on when it may, and says so
    logged = "".join(path.read_text() for path in base.glob("labs-up-*.log"))
    if os.geteuid() == 0:
        assert re.search(r"KSM (turned|already) on", logged), logged[-3000:]
        assert (KSM_DIR / "run").read_text().strip() == "1"
    else:
        assert "KSM not turned on" in logged, logged[-3000:]
    server = cloud.openstack_json("server", "create", "--image", "labs", "--flavor",
                                  "g1.nano", "--key-name", "k", "--wait", "solo")
    assert server["status"] == "ACTIVE"
    wait_for(lambda: "LABS-READY solo solo.admin.labs.internal" in cloud.openstack(
        "console", "log", "show", "solo").stdout, BOOT_SECONDS, "solo ready",
        interval=1.0)
    assert labs_ssh(base / "data", env, key, "solo", "hostname -f").strip() == \
        "solo.admin.labs.internal"
    assert not [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                          text=True, timeout=30).stdout.splitlines()
                if "-net-" in n and server["id"] in n]
    cloud.openstack("server", "delete", "--wait", "solo")
    assert qemu_of(server["id"]) == []


def test_bad_images_and_flavors(vm_cloud: VmCloud, tmp_path: Path) -> None:
    """An image that cannot boot ends in ERROR with a fault that says so, leaving nothing
    on the host; a flavor too small for an image is refused at once."""
    cloud = vm_cloud.cloud
    junk = tmp_path / "junk.raw"
    junk.write_bytes(os.urandom(1 << 20))
    cloud.openstack("image", "create", "--disk-format", "raw", "--container-format", "bare",
                    "--file", str(junk), "junk")
    made = cloud.openstack("server", "create", "--image", "junk", "--flavor", "g1.nano",
                           "--wait", "junk", check=False)
    assert made.returncode != 0
    shown = cloud.openstack_json("server", "show", "junk")
    assert shown["status"] == "ERROR"
    assert "is not bootable" in str(shown["fault"]), shown["fault"]
    assert qemu_of(shown["id"]) == []
    assert not list(vm_cloud.data_dir.glob(f"agent/**/{shown['id']}"))
    cloud.openstack("server", "delete", "--wait", "junk")

    big = tmp_path / "big.qcow2"
    subprocess.run([need("qemu-img", "qemu-utils"), "create", "-q", "-f", "qcow2", str(big),
                    "2G"], check=True, timeout=60)
    cloud.openstack("image", "create", "--disk-format", "qcow2", "--container-format", "bare",
                    "--file", str(big), "big")
    refused = cloud.openstack("server", "create", "--image", "big", "--flavor", "g1.nano",
                              "too-big", check=False)
    assert refused.returncode != 0
    assert "Flavor's disk is too small for requested image" in refused.stderr, refused.stderr
    assert "BadRequestException: 400" in refused.stderr
    assert not [s for s in cloud.openstack_json("server", "list") if s["Name"] == "too-big"]
