"""The network API (Neutron v2.0) through the unchanged `openstack` CLI and openstacksdk
against `labs up` with the fake driver: the public network for everyone, a project's
network once its first VM made it, and another project's out of sight; a port made with
the CLI and a server on it (the port outlives the server); a server's port, and a
floating IP made, associated, taken back and released as OSC does it, seen alike by
compute's ``os-floating-ips``; security groups, their rules and quotas; tags and
``If-Match`` revisions."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openstack.config
import pytest
from openstack import exceptions
from openstack.connection import Connection

from tests.e2e.conftest import BIN, RunningCloud, start_labs_up

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def network_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    base = tmp_path_factory.mktemp("labs-network-e2e")
    # the network API is in the catalog by default ([network] api_in_catalog)
    cloud = start_labs_up(base / "data", {"LABS_AGENT_DRIVER": "fake",
                                          "LABS_IMAGE_BOOTSTRAP_IMAGE": "false"})
    try:
        yield cloud
    finally:
        cloud.stop()


def connect(cloud: RunningCloud, name: str) -> Connection:
    return Connection(config=openstack.config.OpenStackConfig(
        config_files=[str(cloud.clouds_yaml)], load_envvars=False).get_one(name))


def boot(cloud: RunningCloud, tmp_path: Path) -> None:
    """A VM of the demo project, which makes the project's network."""
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * 65536)
    cloud.openstack("image", "create", "--disk-format", "raw", "--container-format", "bare",
                    "--file", str(disk), "tiny", cloud="labs-demo")
    server = cloud.openstack_json("server", "create", "--image", "tiny", "--flavor", "g1.nano",
                                  "--wait", "vm1", cloud="labs-demo")
    assert server["status"] == "ACTIVE"


def test_networks_and_subnets_through_the_clients(network_cloud: RunningCloud,
                                                  tmp_path: Path) -> None:
    c = network_cloud
    catalog = {e["Type"]: e for e in c.openstack_json("catalog", "list")}
    assert catalog["network"]["Name"] == "neutron"
    # before any VM: only the public network, for admin and demo alike
    for cloud in ("labs", "labs-demo"):
        assert [n["Name"] for n in c.openstack_json("network", "list", cloud=cloud)] == [
            "public"]
    public = c.openstack_json("network", "show", "public", cloud="labs-demo")
    assert public["router:external"] is True and public["status"] == "ACTIVE"
    assert public["mtu"] == 1500 and len(public["subnets"]) == 1
    boot(c, tmp_path)
    demo = c.openstack_json("network", "list", cloud="labs-demo")
    assert sorted(n["Name"] for n in demo) == ["lan", "public"]
    lan = next(n for n in demo if n["Name"] == "lan")
    subnets = {s["Name"]: s for s in c.openstack_json("subnet", "list", cloud="labs-demo")}
    assert set(subnets) == {"lan-subnet", "public-subnet"}
    assert subnets["lan-subnet"]["Network"] == lan["ID"]
    assert lan["Subnets"] == [subnets["lan-subnet"]["ID"]]
    assert subnets["public-subnet"]["Subnet"] == "172.24.4.0/24"
    assert c.openstack_json("network", "list", "--external", cloud="labs-demo")[0][
        "Name"] == "public"
    shown = c.openstack_json("subnet", "show", subnets["lan-subnet"]["ID"], cloud="labs-demo")
    assert shown["gateway_ip"] == shown["cidr"].rsplit(".", 1)[0] + ".1"
    # the admin sees the demo project's network too
    assert lan["ID"] in [n["ID"] for n in c.openstack_json("network", "list")]


def test_a_network_and_subnet_made_and_deleted_with_the_cli(
        network_cloud: RunningCloud) -> None:
    c = network_cloud
    made = c.openstack_json("network", "create", "--mtu", "1400", "--description", "mine",
                            "mine", cloud="labs-demo")
    assert (made["name"], made["mtu"], made["shared"], made["subnets"]) == (
        "mine", 1400, False, [])
    subnet = c.openstack_json("subnet", "create", "--subnet-range", "192.168.77.0/24",
                              "--network", "mine", "--dns-nameserver", "9.9.9.9",
                              "--allocation-pool", "start=192.168.77.10,end=192.168.77.20",
                              "mine-v4", cloud="labs-demo")
    assert (subnet["cidr"], subnet["gateway_ip"], subnet["dns_nameservers"]) == (
        "192.168.77.0/24", "192.168.77.1", ["9.9.9.9"])
    assert subnet["allocation_pools"] == [{"start": "192.168.77.10", "end": "192.168.77.20"}]
    assert c.openstack_json("network", "show", "mine", cloud="labs-demo")["subnets"] == [
        subnet["id"]]
    c.openstack("network", "set", "--name", "ours", "mine", cloud="labs-demo")
    c.openstack("subnet", "set", "--name", "ours-v4", "mine-v4", cloud="labs-demo")
    assert c.openstack_json("subnet", "show", subnet["id"], cloud="labs-demo")[
        "name"] == "ours-v4"
    # sharing is the admin's
    refused = c.openstack("network", "create", "--share", "everyone", cloud="labs-demo",
                          check=False)
    assert refused.returncode != 0 and "disallowed by policy" in refused.stderr
    refused = c.openstack("subnet", "create", "--subnet-range", "10.0.0.0/8", "--network",
                          "ours", "big", cloud="labs-demo", check=False)
    assert refused.returncode != 0 and "/16 to /29" in refused.stderr
    # a router: a gateway on public, the subnet joined (then neither goes while it is)
    router = c.openstack_json("router", "create", "edge", cloud="labs-demo")
    assert router["external_gateway_info"] is None
    c.openstack("router", "set", "--external-gateway", "public", "edge", cloud="labs-demo")
    c.openstack("router", "add", "subnet", "edge", "ours-v4", cloud="labs-demo")
    shown = c.openstack_json("router", "show", "edge", cloud="labs-demo")
    gateway = shown["external_gateway_info"]
    assert gateway["external_fixed_ips"][0]["ip_address"].startswith("172.24.4.")
    refused = c.openstack("router", "delete", "edge", cloud="labs-demo", check=False)
    assert refused.returncode != 0 and "still has ports" in refused.stderr
    refused = c.openstack("subnet", "delete", "ours-v4", cloud="labs-demo", check=False)
    assert refused.returncode != 0
    c.openstack("router", "remove", "subnet", "edge", "ours-v4", cloud="labs-demo")
    c.openstack("router", "unset", "--external-gateway", "edge", cloud="labs-demo")
    assert c.openstack_json("router", "show", "edge", cloud="labs-demo")[
        "external_gateway_info"] is None
    c.openstack("router", "delete", "edge", cloud="labs-demo")
    assert "edge" not in [r["Name"] for r in c.openstack_json("router", "list",
                                                             cloud="labs-demo")]
    c.openstack("subnet", "delete", "ours-v4", cloud="labs-demo")
    c.openstack("network", "delete", "ours", cloud="labs-demo")
    assert "ours" not in [n["Name"] for n in c.openstack_json("network", "list",
                                                              cloud="labs-demo")]


def test_openstacksdk_lists_and_finds(network_cloud: RunningCloud) -> None:
    demo = connect(network_cloud, "labs-demo")
    try:
        names = sorted(n.name for n in demo.network.networks())
        assert "public" in names
        public = demo.network.find_network("public", ignore_missing=False)
        assert public.is_router_external is True
        assert [s.cidr for s in demo.network.subnets(network_id=public.id)] == [
            "172.24.4.0/24"]
        # paging through the links, one network a page
        paged = [n.id for n in demo.network.networks(limit=1)]
        assert sorted(paged) == sorted(n.id for n in demo.network.networks())
        assert [e.alias for e in demo.network.extensions()] == [
            "external-net", "net-mtu", "project-id", "pagination", "sorting",
            "filter-validation", "security-group", "standard-attr-description",
            "standard-attr-revisions", "revision-if-match", "standard-attr-tag", "router",
            "quotas", "quota_details"]
    finally:
        demo.close()


def test_a_port_made_with_the_cli_and_a_server_on_it(network_cloud: RunningCloud,
                                                     tmp_path: Path) -> None:
    c = network_cloud
    c.openstack_json("network", "create", "ported", cloud="labs-demo")
    subnet = c.openstack_json("subnet", "create", "--subnet-range", "192.168.88.0/24",
                              "--network", "ported", "ported-v4", cloud="labs-demo")
    port = c.openstack_json("port", "create", "--network", "ported", "--fixed-ip",
                            "subnet=ported-v4,ip-address=192.168.88.42", "p42",
                            cloud="labs-demo")
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "192.168.88.42"}]
    assert (port["status"], port["device_id"], port["name"]) == ("DOWN", "", "p42")
    taken = c.openstack("port", "create", "--network", "ported", "--fixed-ip",
                        "ip-address=192.168.88.42", "again", cloud="labs-demo", check=False)
    assert taken.returncode != 0 and "already allocated" in taken.stderr
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * 65536)
    image = c.openstack_json("image", "create", "--disk-format", "raw", "--container-format",
                             "bare", "--file", str(disk), "port-image", cloud="labs-demo")
    server = c.openstack_json("server", "create", "--image", image["id"], "--flavor",
                              "g1.nano", "--port", port["id"], "--wait", "on-port",
                              cloud="labs-demo")
    assert server["status"] == "ACTIVE" and "192.168.88.42" in str(server["addresses"])
    bound = c.openstack_json("port", "show", "p42", cloud="labs-demo")
    assert (bound["device_id"], bound["device_owner"], bound["status"]) == (
        server["id"], "compute:nova", "ACTIVE")
    c.openstack("server", "delete", "--wait", server["id"], cloud="labs-demo")
    kept = c.openstack_json("port", "show", "p42", cloud="labs-demo")
    assert (kept["device_id"], kept["status"], kept["fixed_ips"]) == (
        "", "DOWN", port["fixed_ips"])
    c.openstack("port", "delete", "p42", cloud="labs-demo")
    assert "p42" not in [p["Name"] for p in c.openstack_json("port", "list",
                                                             cloud="labs-demo")]
    # a server's port deleted under it (Neutron allows it): Nova drops the interface,
    # and `server show` keeps no stale address
    port = c.openstack_json("port", "create", "--network", "ported", "--fixed-ip",
                            "subnet=ported-v4,ip-address=192.168.88.43", "p43",
                            cloud="labs-demo")
    server = c.openstack_json("server", "create", "--image", image["id"], "--flavor",
                              "g1.nano", "--port", port["id"], "--wait", "on-port-2",
                              cloud="labs-demo")
    assert "192.168.88.43" in str(server["addresses"])
    c.openstack("port", "delete", "p43", cloud="labs-demo")
    shown = c.openstack_json("server", "show", server["id"], cloud="labs-demo")
    assert shown["status"] == "ACTIVE" and "192.168.88.43" not in str(shown["addresses"])
    c.openstack("server", "delete", "--wait", server["id"], cloud="labs-demo")
    c.openstack("network", "delete", "ported", cloud="labs-demo")


def proxy_floating_ips(cloud: RunningCloud) -> list[dict[str, Any]]:
    """The demo project's floating IPs as compute's proxy (up to 2.35) shows them."""
    demo = connect(cloud, "labs-demo")
    try:
        resp = demo.compute.get("/os-floating-ips", microversion="2.35")
        assert resp.status_code == 200, resp.text
        found: list[dict[str, Any]] = resp.json()["floating_ips"]
        return found
    finally:
        demo.close()


def test_floating_ips_through_the_cli(network_cloud: RunningCloud, tmp_path: Path) -> None:
    c = network_cloud
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * 65536)
    image = c.openstack_json("image", "create", "--disk-format", "raw", "--container-format",
                             "bare", "--file", str(disk), "fip-image", cloud="labs-demo")
    server = c.openstack_json("server", "create", "--image", image["id"], "--flavor",
                              "g1.nano", "--wait", "fip-vm", cloud="labs-demo")
    sid = server["id"]
    (port,) = c.openstack_json("port", "list", "--server", sid, cloud="labs-demo")
    fixed = port["Fixed IP Addresses"][0]["ip_address"]
    assert port["Status"] == "ACTIVE" and port["MAC Address"].startswith("fa:16:3e:")
    made = c.openstack_json("floating", "ip", "create", "public", cloud="labs-demo")
    address = made["floating_ip_address"]
    assert made["port_id"] is None and address.startswith("172.24.4.")
    c.openstack("server", "add", "floating", "ip", sid, address, cloud="labs-demo")
    shown = c.openstack_json("floating", "ip", "show", address, cloud="labs-demo")
    assert (shown["port_id"], shown["fixed_ip_address"], shown["status"]) == (
        port["ID"], fixed, "ACTIVE")
    addresses = c.openstack_json("server", "show", sid, cloud="labs-demo")["addresses"]
    assert address in str(addresses)
    # the same row through compute's proxy: no data twice
    (legacy,) = [f for f in proxy_floating_ips(c) if f["ip"] == address]
    assert (legacy["instance_id"], legacy["fixed_ip"]) == (sid, fixed)
    c.openstack("server", "remove", "floating", "ip", sid, address, cloud="labs-demo")
    shown = c.openstack_json("floating", "ip", "show", address, cloud="labs-demo")
    assert (shown["port_id"], shown["fixed_ip_address"]) == (None, None)
    c.openstack("floating", "ip", "delete", address, cloud="labs-demo")
    assert address not in [f["Floating IP Address"] for f in c.openstack_json(
        "floating", "ip", "list", cloud="labs-demo")]
    assert address not in [f["ip"] for f in proxy_floating_ips(c)]


def test_serve_network_needs_identity_first(tmp_path: Path) -> None:
    """`labs serve network` on a database identity has not bootstrapped: refused, with
    what to start first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABS_", "OS_"))}
    done = subprocess.run([str(BIN / "labs"), "serve", "network", "--data-dir",
                           str(tmp_path / "data")], capture_output=True, text=True,
                          timeout=60, env=env, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "start `labs serve identity` first" in done.stderr


def test_security_group_rules_through_the_cli(network_cloud: RunningCloud) -> None:
    c = network_cloud
    c.openstack("security", "group", "create", "--description", "db servers", "db",
                cloud="labs-demo")
    made = c.openstack_json("security", "group", "rule", "create", "--protocol", "tcp",
                            "--dst-port", "5432:5433", "--remote-ip", "10.68.0.0/16",
                            "--description", "postgres", "db", cloud="labs-demo")
    assert (made["protocol"], made["port_range_min"], made["port_range_max"],
            made["remote_ip_prefix"], made["ether_type"], made["description"]) == (
        "tcp", 5432, 5433, "10.68.0.0/16", "IPv4", "postgres")
    listed = c.openstack_json("security", "group", "rule", "list", "db", cloud="labs-demo")
    assert {r["ID"] for r in listed} >= {made["id"]} and len(listed) == 3  # 2 egress
    egress = c.openstack_json("security", "group", "rule", "list", "--egress", "db",
                              cloud="labs-demo")
    assert len(egress) == 2 and made["id"] not in {r["ID"] for r in egress}
    shown = c.openstack_json("security", "group", "rule", "show", made["id"],
                             cloud="labs-demo")
    assert shown["security_group_id"] == made["security_group_id"]
    again = c.openstack("security", "group", "rule", "create", "--protocol", "tcp",
                        "--dst-port", "5432:5433", "--remote-ip", "10.68.0.0/16", "db",
                        cloud="labs-demo", check=False)
    assert again.returncode != 0 and "already exists" in again.stderr
    backwards = c.openstack("security", "group", "rule", "create", "--protocol", "tcp",
                            "--dst-port", "90:80", "db", cloud="labs-demo", check=False)
    assert backwards.returncode != 0
    # another project sees none of it
    assert "db" not in {g["Name"] for g in c.openstack_json("security", "group", "list",
                                                          "--project", "admin")}
    c.openstack("security", "group", "rule", "delete", made["id"], cloud="labs-demo")
    assert made["id"] not in {r["ID"] for r in c.openstack_json(
        "security", "group", "rule", "list", "db", cloud="labs-demo")}
    c.openstack("security", "group", "delete", "db", cloud="labs-demo")


def test_security_groups_and_quotas_through_openstacksdk(network_cloud: RunningCloud) -> None:
    c = network_cloud
    demo, admin = connect(c, "labs-demo"), connect(c, "labs")
    try:
        group = demo.network.create_security_group(name="sdk", description="from the sdk")
        assert group.stateful is True and group.project_id
        rule = demo.network.create_security_group_rule(
            security_group_id=group.id, direction="ingress", protocol="udp",
            port_range_min=53, port_range_max=53, remote_ip_prefix="192.0.2.0/24")
        assert (rule.protocol, rule.port_range_min, rule.remote_ip_prefix) == (
            "udp", 53, "192.0.2.0/24")
        found = demo.network.find_security_group("sdk")
        assert found is not None and found.id == group.id
        assert rule.id in {r["id"] for r in found.security_group_rules}
        assert [r.id for r in demo.network.security_group_rules(
            security_group_id=group.id, direction="ingress")] == [rule.id]
        quota = demo.network.get_quota(group.project_id, details=True)
        assert quota.security_groups["used"] >= 2  # default and sdk
        admin.network.update_quota(group.project_id, security_groups=2)
        with pytest.raises(exceptions.ConflictException, match="Quota exceeded"):
            demo.network.create_security_group(name="more")
        admin.network.delete_quota(group.project_id)
        demo.network.delete_security_group_rule(rule)
        demo.network.delete_security_group(group)
        assert demo.network.find_security_group("sdk") is None
    finally:
        demo.close()
        admin.close()


def test_tags_and_revisions_through_the_cli_and_openstacksdk(
        network_cloud: RunningCloud) -> None:
    c = network_cloud

    def names(*query: str) -> list[str]:
        return sorted(n["Name"] for n in c.openstack_json("network", "list", *query,
                                                          cloud="labs-demo"))

    c.openstack("network", "create", "--tag", "blue", "--tag", "red", "tagged",
                cloud="labs-demo")
    c.openstack("network", "create", "plain", cloud="labs-demo")
    shown = c.openstack_json("network", "show", "tagged", cloud="labs-demo")
    assert sorted(shown["tags"]) == ["blue", "red"]
    assert names("--tags", "blue") == ["tagged"]
    assert names("--tags", "blue,red") == ["tagged"]
    assert names("--any-tags", "red,green") == ["tagged"]
    assert "tagged" not in names("--not-tags", "blue") and "plain" in names(
        "--not-tags", "blue")
    c.openstack("network", "unset", "--tag", "red", "tagged", cloud="labs-demo")
    c.openstack("network", "set", "--tag", "green", "tagged", cloud="labs-demo")
    assert sorted(c.openstack_json("network", "show", "tagged", cloud="labs-demo")[
        "tags"]) == ["blue", "green"]
    assert names("--tags", "red") == []
    c.openstack("security", "group", "create", "tagged-sg", cloud="labs-demo")
    c.openstack("security", "group", "set", "--tag", "fw", "tagged-sg", cloud="labs-demo")
    assert c.openstack_json("security", "group", "show", "tagged-sg",
                            cloud="labs-demo")["tags"] == ["fw"]
    demo = connect(c, "labs-demo")
    try:
        net = demo.network.find_network("tagged", ignore_missing=False)
        demo.network.set_tags(net, ["sdk", "two"])
        again = demo.network.get_network(net.id)
        assert sorted(again.tags) == ["sdk", "two"]
        assert [n.name for n in demo.network.networks(tags="sdk")] == ["tagged"]
        at = int(again.revision_number)
        with pytest.raises(exceptions.HttpException) as stale:
            demo.network.update_network(again, name="x", if_revision=at - 1)
        assert stale.value.status_code == 412
        renamed = demo.network.update_network(again, name="tagged2", if_revision=at)
        assert (renamed.name, renamed.revision_number) == ("tagged2", at + 1)
    finally:
        demo.close()
    for name in ("tagged2", "plain"):
        c.openstack("network", "delete", name, cloud="labs-demo")
    c.openstack("security", "group", "delete", "tagged-sg", cloud="labs-demo")
