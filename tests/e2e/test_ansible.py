"""Ansible's openstack.cloud collection (from the ``ansible`` package, unchanged) against
`labs up` with the fake driver: a playbook makes a network with a subnet, a router with
its gateway on ``public`` and the subnet as an interface, a port on the network, a key
pair, a security group and its rules, a server with ``auto_ip: true`` (a floating IP
from the public network on its port), then removes all of it; a second run of the same
tasks changes nothing. What the playbook made is checked through the `openstack` CLI,
not through Ansible's answers."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunningCloud, start_labs_up

pytestmark = pytest.mark.e2e

PLAY_TIMEOUT = 300.0
#: Ansible's own environment, which `./run test` makes: the openstack.cloud collection
#: of the ansible package needs an older openstacksdk than the openstack CLI.
ANSIBLE_BIN = Path(__file__).resolve().parents[2] / ".venv" / "ansible" / "bin"

MAKE = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/openstack.cloud.openstack:
      cloud: labs-demo
  tasks:
    - openstack.cloud.network:
        name: ansible-net
    - openstack.cloud.subnet:
        name: ansible-subnet
        network: ansible-net
        cidr: 10.77.0.0/24
    - openstack.cloud.router:
        name: ansible-router
        network: public
        interfaces: [ansible-subnet]
    - openstack.cloud.port:
        name: ansible-port
        network: ansible-net
    - openstack.cloud.keypair:
        name: ansible-key
        public_key: "{{ lookup('file', key_file) }}"
    - openstack.cloud.security_group:
        name: web
        description: web servers
    - openstack.cloud.security_group_rule:
        security_group: web
        protocol: tcp
        port_range_min: 80
        port_range_max: 80
        remote_ip_prefix: 0.0.0.0/0
    - openstack.cloud.security_group_rule:
        security_group: web
        protocol: icmp
        remote_ip_prefix: 0.0.0.0/0
    - openstack.cloud.server:
        name: ansible-vm
        image: tiny
        flavor: g1.nano
        key_name: ansible-key
        security_groups: [default, web]
        auto_ip: true
        wait: true
        timeout: 120
      register: made
    - openstack.cloud.floating_ip_info:
      register: fips
    - ansible.builtin.copy:
        content: "{{ {'server': made.server, 'floating_ips': fips.floating_ips} | to_json }}"
        dest: "{{ out_file }}"
"""

REMOVE = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/openstack.cloud.openstack:
      cloud: labs-demo
  tasks:
    - openstack.cloud.server:
        name: ansible-vm
        state: absent
        delete_ips: true
        wait: true
        timeout: 120
    - openstack.cloud.security_group:
        name: web
        state: absent
    - openstack.cloud.keypair:
        name: ansible-key
        state: absent
    - openstack.cloud.port:
        name: ansible-port
        state: absent
    - openstack.cloud.router:
        name: ansible-router
        state: absent
    - openstack.cloud.subnet:
        name: ansible-subnet
        state: absent
    - openstack.cloud.network:
        name: ansible-net
        state: absent
"""


@pytest.fixture(scope="module")
def ansible_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    base = tmp_path_factory.mktemp("labs-ansible")
    cloud = start_labs_up(base / "data", {"LABS_AGENT_DRIVER": "fake",
                                          "LABS_IMAGE_BOOTSTRAP_IMAGE": "false"})
    try:
        yield cloud
    finally:
        cloud.stop()


def play(cloud: RunningCloud, workdir: Path, playbook: str,
         **variables: str) -> dict[str, Any]:
    """Run `playbook` with ansible-playbook; its recap's counts by host."""
    program = ANSIBLE_BIN / "ansible-playbook"
    if not program.exists():
        pytest.fail(f"{program} is missing: ./run test installs Ansible there")
    path = workdir / "playbook.yml"
    path.write_text(textwrap.dedent(playbook))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env |= {"OS_CLIENT_CONFIG_FILE": str(cloud.clouds_yaml),
            "ANSIBLE_LOCAL_TEMP": str(workdir / "tmp"),
            "ANSIBLE_HOME": str(workdir / "home"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
            "ANSIBLE_PYTHON_INTERPRETER": str(ANSIBLE_BIN / "python"),
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "PATH": f"{ANSIBLE_BIN}:{env.get('PATH', '')}"}
    done = subprocess.run(
        [str(program), "-i", "localhost,", "-c", "local", str(path),
         "-e", json.dumps(variables)], env=env, cwd=workdir, capture_output=True,
        text=True, timeout=PLAY_TIMEOUT, check=False)
    if done.returncode != 0:
        raise AssertionError(f"ansible-playbook failed ({done.returncode}):\n"
                             f"{done.stdout[-6000:]}\n{done.stderr[-3000:]}")
    stats: dict[str, Any] = json.loads(done.stdout)["stats"]["localhost"]
    return stats


def test_a_playbook_makes_and_removes_a_server_with_a_floating_ip(
        ansible_cloud: RunningCloud, tmp_path: Path) -> None:
    c = ansible_cloud
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * 65536)
    c.openstack("image", "create", "--disk-format", "raw", "--container-format", "bare",
                "--file", str(disk), "tiny", cloud="labs-demo")
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True, timeout=30)
    out = tmp_path / "made.json"
    stats = play(c, tmp_path, MAKE, key_file=f"{key}.pub", out_file=str(out))
    assert stats["failures"] == 0 and stats["changed"] >= 9, stats
    made = json.loads(out.read_text())
    server = c.openstack_json("server", "show", "ansible-vm", cloud="labs-demo")
    assert server["status"] == "ACTIVE" and server["key_name"] == "ansible-key"
    assert sorted(g["name"] for g in server["security_groups"]) == ["default", "web"]
    (fip,) = [f for f in c.openstack_json("floating", "ip", "list", "--long",
                                          cloud="labs-demo")]
    address = fip["Floating IP Address"]
    assert address.startswith("172.24.4.") and fip["Port"] is not None
    assert address in json.dumps(server["addresses"])
    assert address in json.dumps(made["floating_ips"])
    check_the_network(c)
    rules = c.openstack_json("security", "group", "rule", "list", "web", cloud="labs-demo")
    assert {(r["IP Protocol"], r["Port Range"]) for r in rules
            if r["Direction"] == "ingress"} == {("tcp", "80:80"), ("icmp", "")}

    # the same playbook again: everything is there already
    again = play(c, tmp_path, MAKE, key_file=f"{key}.pub", out_file=str(out))
    assert again["failures"] == 0 and again["changed"] <= 1, again  # the copy task only

    removed = play(c, tmp_path, REMOVE)
    assert removed["failures"] == 0 and removed["changed"] == 7, removed
    assert c.openstack_json("server", "list", cloud="labs-demo") == []
    assert c.openstack_json("floating", "ip", "list", cloud="labs-demo") == []
    groups = c.openstack_json("security", "group", "list", cloud="labs-demo")
    assert [g["Name"] for g in groups] == ["default"]
    assert c.openstack_json("keypair", "list", cloud="labs-demo") == []
    assert "ansible-net" not in json.dumps(c.openstack_json("network", "list",
                                                            cloud="labs-demo"))
    assert c.openstack_json("router", "list", "--name", "ansible-router",
                            cloud="labs-demo") == []
    assert c.openstack_json("port", "list", "--name", "ansible-port",
                            cloud="labs-demo") == []


def check_the_network(c: RunningCloud) -> None:
    """The network, subnet, router and port the playbook made, as the CLI shows them."""
    net = c.openstack_json("network", "show", "ansible-net", cloud="labs-demo")
    subnet = c.openstack_json("subnet", "show", "ansible-subnet", cloud="labs-demo")
    assert subnet["cidr"] == "10.77.0.0/24" and subnet["network_id"] == net["id"]
    assert subnet["gateway_ip"] == "10.77.0.1"
    router = c.openstack_json("router", "show", "ansible-router", cloud="labs-demo")
    public = c.openstack_json("network", "show", "public", cloud="labs-demo")
    assert router["external_gateway_info"]["network_id"] == public["id"]
    (joined,) = c.openstack_json("port", "list", "--router", "ansible-router",
                                 cloud="labs-demo")
    assert "10.77.0.1" in json.dumps(joined["Fixed IP Addresses"])
    port = c.openstack_json("port", "show", "ansible-port", cloud="labs-demo")
    assert port["network_id"] == net["id"]
    (fixed,) = port["fixed_ips"]
    assert fixed["subnet_id"] == subnet["id"] and fixed["ip_address"].startswith("10.77.0.")
