"""A real VM on a network its project made: the unchanged `openstack` CLI makes the
network and its subnet (the network API listed in the catalog), `server create
--network` (or `--port`, a port made with `port create --fixed-ip`) puts a VM there
under qemu with bridge networks, and ssh reaches it from its network's namespace. A VM
on two networks has a NIC on each (eth0, eth1); `server remove port` and `server add
port` take one from the running VM and give one back (os-interface). Two networks
joined by a router with a gateway: ssh reaches the first one's VM from outside through
its floating IP, and that VM reaches the second one's."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import openstack.config
import pytest
from openstack.connection import Connection

from labs.network.agent import netns
from tests.common.bus_helpers import wait_for
from tests.e2e.conftest import RunningCloud
from tests.e2e.test_vms import VmCloud, boot, outside_fixture, vm_cloud_fixture  # noqa: F401

pytestmark = pytest.mark.e2e


def allow_ssh_from(cloud: RunningCloud, cidr: str) -> None:
    """A rule in the admin project's default group letting TCP 22 in from `cidr` (the
    default group lets it in from the cloud's fixed range only)."""
    conn = Connection(config=openstack.config.OpenStackConfig(
        config_files=[str(cloud.clouds_yaml)]).get_one("labs"))
    try:
        groups = conn.compute.get("/os-security-groups", microversion="2.35").json()
        default = next(g for g in groups["security_groups"] if g["name"] == "default")
        added = conn.compute.post("/os-security-group-rules", microversion="2.35", json={
            "security_group_rule": {"parent_group_id": default["id"], "ip_protocol": "tcp",
                                    "from_port": 22, "to_port": 22, "cidr": cidr}})
        assert added.status_code == 200, added.text
    finally:
        conn.close()


def test_a_vm_on_a_network_made_with_the_cli(vm_cloud: VmCloud) -> None:
    """`network create`, `subnet create` with a range of the user's, and `server create
    --network`: the VM gets its address there by DHCP, and ssh reaches it from its
    network's namespace (once the default group lets ssh in from that range: it lets it
    in from the cloud's fixed range only)."""
    vms, cloud = vm_cloud, vm_cloud.cloud
    keypair(vms)
    net = cloud.openstack_json("network", "create", "blue")
    subnet = cloud.openstack_json("subnet", "create", "--subnet-range", "192.168.77.0/24",
                                  "--network", net["id"], "blue-v4")
    assert subnet["gateway_ip"] == "192.168.77.1"
    allow_ssh_from(cloud, "192.168.77.0/24")
    boot(vms, "bluevm", "--network", net["id"])
    addresses = cloud.openstack_json("server", "show", "bluevm")["addresses"]
    (address,) = addresses["blue"]
    assert ipaddress.IPv4Address(address) in ipaddress.IPv4Network("192.168.77.0/24")
    assert vms.ssh(address, "hostname").strip() == "bluevm"
    assert f"inet {address}/24" in vms.ssh(address, "ip -4 addr show eth0")
    refused = cloud.openstack("network", "delete", net["id"], check=False)
    assert refused.returncode != 0 and "in use" in refused.stderr
    cloud.openstack("server", "delete", "--wait", "bluevm")
    cloud.openstack("subnet", "delete", subnet["id"])
    cloud.openstack("network", "delete", net["id"])
    assert "blue" not in [n["Name"] for n in cloud.openstack_json("network", "list")]


def test_a_vm_on_a_port_made_with_the_cli(vm_cloud: VmCloud) -> None:
    """`port create --fixed-ip` and `server create --port`: the VM gets the port's
    address (by DHCP, from its port's MAC); the port outlives the server."""
    vms, cloud = vm_cloud, vm_cloud.cloud
    if cloud.openstack("keypair", "show", "k", check=False).returncode != 0:
        cloud.openstack("keypair", "create", "--private-key", str(vms.key), "k")
        vms.key.chmod(0o600)
    net = cloud.openstack_json("network", "create", "green")
    cloud.openstack_json("subnet", "create", "--subnet-range", "192.168.78.0/24",
                         "--network", net["id"], "green-v4")
    port = cloud.openstack_json("port", "create", "--network", "green", "--fixed-ip",
                                "subnet=green-v4,ip-address=192.168.78.99", "green-port")
    allow_ssh_from(cloud, "192.168.78.0/24")
    boot(vms, "greenvm", "--port", port["id"])
    assert cloud.openstack_json("server", "show", "greenvm")["addresses"] == {
        "green": ["192.168.78.99"]}
    assert "inet 192.168.78.99/24" in vms.ssh("192.168.78.99", "ip -4 addr show eth0")
    cloud.openstack("server", "delete", "--wait", "greenvm")
    kept = cloud.openstack_json("port", "show", "green-port")
    assert kept["device_id"] == "" and kept["fixed_ips"] == port["fixed_ips"]
    cloud.openstack("port", "delete", "green-port")
    cloud.openstack("network", "delete", net["id"])


def keypair(vms: VmCloud) -> None:
    if vms.cloud.openstack("keypair", "show", "k", check=False).returncode != 0:
        vms.cloud.openstack("keypair", "create", "--private-key", str(vms.key), "k")
        vms.key.chmod(0o600)


def test_a_vm_on_two_networks_and_a_nic_detached_and_attached(vm_cloud: VmCloud) -> None:
    """`server create --network A --network B`: eth0 on A and eth1 on B, each with its
    address by DHCP; `server remove port` takes eth1 from the running VM (its port,
    made by compute, goes), `server add port` gives it a NIC on a port of a third
    network, eth1 again."""
    vms, cloud = vm_cloud, vm_cloud.cloud
    keypair(vms)
    nets = {}
    for name, third in (("red", 81), ("white", 82), ("black", 83)):
        nets[name] = cloud.openstack_json("network", "create", name)["id"]
        cloud.openstack_json("subnet", "create", "--subnet-range",
                             f"192.168.{third}.0/24", "--network", name, f"{name}-v4")
    allow_ssh_from(cloud, "192.168.81.0/24")
    server = boot(vms, "twonics", "--network", nets["red"], "--network", nets["white"])
    addresses = cloud.openstack_json("server", "show", "twonics")["addresses"]
    assert list(addresses) == ["red", "white"], addresses
    (red,), (white,) = addresses["red"], addresses["white"]
    assert red.startswith("192.168.81.") and white.startswith("192.168.82."), addresses

    def holds(device: str, address: str) -> bool:
        return f"inet {address}/24" in vms.ssh(red, f"ip -4 addr show {device} || true")
    wait_for(lambda: holds("eth0", red) and holds("eth1", white), 60,
             "eth0 and eth1 holding both addresses", interval=1.0)

    ports = cloud.openstack_json("port", "list", "--server", server["id"])
    white_port = next(p["ID"] for p in ports if p["Fixed IP Addresses"][0]["ip_address"]
                      == white)
    cloud.openstack("server", "remove", "port", "twonics", white_port)
    assert list(cloud.openstack_json("server", "show", "twonics")["addresses"]) == ["red"]
    wait_for(lambda: "eth1" not in vms.ssh(red, "ls /sys/class/net"), 60, "eth1 gone",
             interval=1.0)
    assert cloud.openstack("port", "show", white_port, check=False).returncode != 0

    port = cloud.openstack_json("port", "create", "--network", "black", "--fixed-ip",
                                "subnet=black-v4,ip-address=192.168.83.33", "black-port")
    cloud.openstack("server", "add", "port", "twonics", port["id"])
    assert cloud.openstack_json("server", "show", "twonics")["addresses"] == {
        "red": [red], "black": ["192.168.83.33"]}
    wait_for(lambda: "eth1" in vms.ssh(red, "ls /sys/class/net"), 60, "eth1 back",
             interval=1.0)
    mac = vms.ssh(red, "cat /sys/class/net/eth1/address").strip()
    assert mac == port["mac_address"]

    cloud.openstack("server", "delete", "--wait", "twonics")
    assert cloud.openstack_json("port", "show", "black-port")["device_id"] == ""
    cloud.openstack("port", "delete", "black-port")
    for name in nets:
        cloud.openstack("network", "delete", nets[name])


def test_two_networks_joined_by_a_router(vm_cloud: VmCloud,
                                         outside: Callable[[], str]) -> None:
    """`router create`, `router set --external-gateway public`, `router add subnet` for
    two networks; a VM on a port of the first, the port in a group letting ssh in from
    anywhere, with a floating IP: ssh reaches it from outside through the floating IP,
    and from there it reaches the VM on the second network (by its fixed IP) and the outside."""
    vms, cloud = vm_cloud, vm_cloud.cloud
    keypair(vms)
    for name, cidr in (("rt-a", "192.168.91.0/24"), ("rt-b", "192.168.92.0/24")):
        cloud.openstack_json("network", "create", name)
        cloud.openstack_json("subnet", "create", "--subnet-range", cidr, "--network", name,
                             f"{name}-v4")
    router = cloud.openstack_json("router", "create", "rt")
    cloud.openstack("router", "set", "--external-gateway", "public", "rt")
    cloud.openstack("router", "add", "subnet", "rt", "rt-a-v4")
    cloud.openstack("router", "add", "subnet", "rt", "rt-b-v4")
    cloud.openstack("security", "group", "create", "ssh-anywhere")
    cloud.openstack("security", "group", "rule", "create", "--protocol", "tcp",
                    "--dst-port", "22", "ssh-anywhere")
    # a port the user makes has the groups it is made with (a server's groups are for
    # the ports compute makes, as in Nova)
    port = cloud.openstack_json("port", "create", "--network", "rt-a", "--security-group",
                                "ssh-anywhere", "rt-a-port")
    boot(vms, "rta", "--port", port["id"])
    boot(vms, "rtb", "--network", "rt-b")
    (vm_b,) = cloud.openstack_json("server", "show", "rtb")["addresses"]["rt-b"]
    fip = cloud.openstack_json("floating", "ip", "create", "public")["floating_ip_address"]
    cloud.openstack("server", "add", "floating", "ip", "rta", fip)
    shown = cloud.openstack_json("floating", "ip", "show", fip)
    assert shown["router_id"] == router["id"]

    world = outside()
    assert vms.ssh(fip, "hostname", namespace=world).strip() == "rta"
    assert "reached" in vms.ssh(fip, f"ping -c 2 -W 2 {vm_b} >/dev/null && echo reached",
                                timeout=60, namespace=world)
    assert "reached" in vms.ssh(
        fip, "ping -c 2 -W 2 172.24.4.200 >/dev/null && echo reached", timeout=60,
        namespace=world)  # out through the router, from its floating IP
    for server in ("rta", "rtb"):
        cloud.openstack("server", "delete", "--wait", server)
    # the router's namespace (and its external IP) went with its last port on the host
    wait_for(lambda: not netns.names(f"{vms.prefix}-rtr-"), 30, "the router's namespace gone")
    cloud.openstack("floating", "ip", "delete", fip)
    for name in ("rt-a", "rt-b"):
        cloud.openstack("router", "remove", "subnet", "rt", f"{name}-v4")
    cloud.openstack("router", "delete", "rt")
    cloud.openstack("port", "delete", "rt-a-port")
    for name in ("rt-a", "rt-b"):
        cloud.openstack("network", "delete", name)
