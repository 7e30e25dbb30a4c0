"""The unchanged openstack CLI against `labs up` with the fake driver: the core server
flow, and three agents (the all-in-one's own and two `labs agent` processes joined
over RabbitMQ) for anti-affinity, services and hypervisors."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openstack.config
import pytest
from openstack.connection import Connection

from tests.common.bus_helpers import wait_for
from tests.e2e.conftest import BIN, RunningCloud, start_labs_up

RABBIT = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture(scope="module")
def compute_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    base = tmp_path_factory.mktemp("labs-compute")
    env = {"LABS_BUS_URL": RABBIT, "LABS_BUS_NAMESPACE": f"e2e{uuid.uuid4().hex[:8]}",
           "LABS_AGENT_HOST": "agent-1", "LABS_COMPUTE_HEARTBEAT_SECONDS": "2",
           "LABS_AGENT_DRIVER": "fake"}
    cloud = start_labs_up(base / "data", env)
    agents: list[subprocess.Popen[bytes]] = []
    try:
        for name in ("agent-2", "agent-3"):
            with open(base / f"{name}.log", "wb") as log:
                agents.append(subprocess.Popen(
                    [str(BIN / "labs"), "agent", "--host", name, "--data-dir",
                     str(base / name)],
                    stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}))
        wait_for(lambda: len(cloud.openstack_json("hypervisor", "list")) == 3, 60,
                 "three agents registered", interval=0.5)
        yield cloud
    finally:
        for agent in agents:
            agent.terminate()
            agent.wait(timeout=20)
        cloud.stop()




def status(cloud: RunningCloud, server: str) -> str:
    return str(cloud.openstack_json("server", "show", server)["status"])


def test_core_server_flow(compute_cloud: RunningCloud, tmp_path: Path) -> None:
    cloud = compute_cloud
    flavors = {f["Name"] for f in cloud.openstack_json("flavor", "list")}
    assert {"m1.tiny", "m1.small", "g1.nano"} <= flavors
    key = tmp_path / "id.pub"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")],
                   check=True, timeout=30)
    made = cloud.openstack_json("keypair", "create", "--public-key", str(key), "k1")
    assert made["name"] == "k1" and made["fingerprint"]
    server = cloud.openstack_json("server", "create", "--image", "labs", "--flavor", "g1.nano",
                                  "--key-name", "k1", "--property", "role=web", "--wait",
                                  "vm1")
    assert server["status"] == "ACTIVE"
    assert server["key_name"] == "k1"
    listed = cloud.openstack_json("server", "list")
    assert [(s["Name"], s["Status"], s["Flavor"]) for s in listed] == [
        ("vm1", "ACTIVE", "g1.nano")]
    shown = cloud.openstack_json("server", "show", "vm1")
    assert shown["OS-EXT-STS:power_state"] in ("Running", 1)
    cloud.openstack("server", "reboot", "--wait", "vm1")
    assert status(cloud, "vm1") == "ACTIVE"
    cloud.openstack("server", "stop", "vm1")
    wait_for(lambda: status(cloud, "vm1") == "SHUTOFF", 30, "vm1 SHUTOFF", interval=0.5)
    cloud.openstack("server", "start", "vm1")
    wait_for(lambda: status(cloud, "vm1") == "ACTIVE", 30, "vm1 ACTIVE", interval=0.5)
    limits = {row["Name"]: row["Value"]
              for row in cloud.openstack_json("limits", "show", "--absolute")}
    assert limits["total_instances_used"] == 1, limits
    assert limits["max_total_instances"] == 10, limits
    quota = {row["Resource"]: row["Limit"] for row in cloud.openstack_json("quota", "show")}
    assert quota["instances"] == 10 and quota["cores"] == 20, quota
    events = [e["Action"] for e in cloud.openstack_json("server", "event", "list", "vm1")]
    assert events == ["start", "stop", "reboot", "create"]
    snap = cloud.openstack_json("server", "image", "create", "--name", "vm1-snap", "--wait",
                                "vm1")
    assert snap["name"] == "vm1-snap"
    image = cloud.openstack_json("image", "show", "vm1-snap")
    assert image["status"] == "active" and image["size"] > 0
    assert image["visibility"] == "private"
    assert image["properties"]["instance_uuid"] == server["id"]
    assert cloud.openstack_json("server", "event", "list", "vm1")[0]["Action"] == "createImage"
    cloud.openstack("server", "delete", "--wait", "vm1")
    assert cloud.openstack_json("server", "list") == []


def test_anti_affinity_uses_three_agents(compute_cloud: RunningCloud) -> None:
    cloud = compute_cloud
    group = cloud.openstack_json("server", "group", "create", "--policy", "anti-affinity",
                                 "spread")
    for index in range(3):
        cloud.openstack("server", "create", "--image", "labs", "--flavor", "g1.nano",
                        "--hint", f"group={group['id']}", "--wait", f"spread-{index}")
    hosts = {cloud.openstack_json("server", "show", f"spread-{i}")["OS-EXT-SRV-ATTR:host"]
             for i in range(3)}
    assert hosts == {"agent-1", "agent-2", "agent-3"}
    services = cloud.openstack_json("compute", "service", "list")
    computes = [s for s in services if s["Binary"] == "nova-compute"]
    assert {s["Host"] for s in computes} == hosts
    assert all(s["State"] == "up" and s["Status"] == "enabled" for s in computes)
    hypervisors = cloud.openstack_json("hypervisor", "list")
    assert {h["Hypervisor Hostname"] for h in hypervisors} == hosts
    for index in range(3):
        cloud.openstack("server", "delete", "--wait", f"spread-{index}")


def test_security_groups_and_floating_ips(compute_cloud: RunningCloud) -> None:
    """A server's groups through the CLI: the groups and rules through the network API
    (the catalog lists it, so OSC sends ``security group`` there), membership through
    compute's server actions; floating IPs through openstacksdk."""
    cloud = compute_cloud
    conn = Connection(config=openstack.config.OpenStackConfig(
        config_files=[str(cloud.clouds_yaml)]).get_one("labs"))
    try:
        web = cloud.openstack_json("security", "group", "create", "--description",
                                   "web servers", "web")
        assert web["name"] == "web" and web["description"] == "web servers"
        rule = cloud.openstack_json("security", "group", "rule", "create", "--protocol",
                                    "tcp", "--dst-port", "22", "web")
        assert (rule["protocol"], rule["port_range_min"], rule["port_range_max"],
                rule["direction"]) == ("tcp", 22, 22, "ingress")
        found = cloud.openstack_json("security", "group", "show", "web")
        assert found["id"] == web["id"]
        assert rule["id"] in {r["id"] for r in found["rules"]}
        refused = cloud.openstack("security", "group", "rule", "create", "--protocol", "tcp",
                                  "--dst-port", "22", "--remote-ip", "10.0.0.0/33", "web",
                                  check=False)
        assert refused.returncode != 0 and "10.0.0.0/33" in refused.stderr
        cloud.openstack("security", "group", "create", "ops")
        assert {"default", "web", "ops"} <= {
            g["Name"] for g in cloud.openstack_json("security", "group", "list")}

        server = cloud.openstack_json("server", "create", "--image", "labs", "--flavor",
                                      "g1.nano", "--security-group", "web", "--wait", "s")
        assert server["status"] == "ACTIVE"
        cloud.openstack("server", "add", "security", "group", "s", "ops")
        shown = cloud.openstack_json("server", "show", "s")
        assert sorted(g["name"] for g in shown["security_groups"]) == ["ops", "web"]
        fixed = shown["addresses"]["lan"]
        assert len(fixed) == 1 and fixed[0].startswith("10.68."), shown["addresses"]

        fip = conn.create_floating_ip(network="public")
        ip = fip["floating_ip_address"]
        action = f"/servers/{server['id']}/action"
        added = conn.compute.post(action, json={"addFloatingIp": {"address": ip}},
                                  microversion="2.1")
        assert added.status_code == 202, added.text
        assert cloud.openstack_json("server", "show", "s")["addresses"] == {"lan": [*fixed, ip]}
        conn.detach_ip_from_server(server["id"], fip["id"])
        assert cloud.openstack_json("server", "show", "s")["addresses"] == {"lan": fixed}
        conn.delete_floating_ip(fip["id"])
        assert conn.list_floating_ips() == []

        in_use = cloud.openstack("security", "group", "delete", "web", check=False)
        assert in_use.returncode != 0 and "in use" in in_use.stderr
        cloud.openstack("server", "remove", "security", "group", "s", "web")
        assert [g["name"] for g in cloud.openstack_json("server", "show", "s")[
            "security_groups"]] == ["ops"]
        cloud.openstack("security", "group", "delete", "web")
        assert "web" not in {g["Name"] for g in cloud.openstack_json(
            "security", "group", "list")}
        cloud.openstack("server", "delete", "--wait", "s")
    finally:
        conn.close()


def test_pause_usage_and_access_ips(compute_cloud: RunningCloud) -> None:
    """`server pause` and `unpause`, `usage list` and `usage show` through the CLI;
    access IPs through openstacksdk (the CLI has no option for them)."""
    cloud = compute_cloud
    conn = Connection(config=openstack.config.OpenStackConfig(
        config_files=[str(cloud.clouds_yaml)]).get_one("labs"))
    try:
        image = cloud.openstack_json("image", "show", "labs")["id"]
        flavor = cloud.openstack_json("flavor", "show", "g1.nano")["id"]
        made = conn.compute.create_server(name="p", image_id=image, flavor_id=flavor,
                                          networks="none", access_ipv4="192.0.2.5",
                                          access_ipv6="2001:db8::5")
        server = conn.compute.wait_for_server(made, wait=60)
        assert (server.access_ipv4, server.access_ipv6) == ("192.0.2.5", "2001:db8::5")
        shown = cloud.openstack_json("server", "show", "p")
        assert (shown["accessIPv4"], shown["accessIPv6"]) == ("192.0.2.5", "2001:db8::5")
        cloud.openstack("server", "pause", "p")
        wait_for(lambda: status(cloud, "p") == "PAUSED", 30, "p PAUSED", interval=0.5)
        assert [s["Name"] for s in cloud.openstack_json(
            "server", "list", "--status", "PAUSED")] == ["p"]
        assert cloud.openstack("server", "pause", "p", check=False).returncode != 0
        cloud.openstack("server", "unpause", "p")
        wait_for(lambda: status(cloud, "p") == "ACTIVE", 30, "p ACTIVE", interval=0.5)
        events = [e["Action"] for e in cloud.openstack_json("server", "event", "list", "p")]
        assert events[:2] == ["unpause", "pause"]

        # (-f json shows the project's id, and the CLI's "detailed=True" is not Nova's
        # "detailed=1": the list counts no servers, as against Nova)
        admin_id = cloud.openstack_json("project", "show", "admin")["id"]
        usage = cloud.openstack_json("usage", "list")
        (admin,) = [u for u in usage if u["Project"] == admin_id]
        assert float(admin["CPU Hours"]) > 0 and float(admin["RAM MB-Hours"]) > 0
        shown_usage = cloud.openstack_json("usage", "show", "--project", "admin")
        assert shown_usage["Project"] == admin_id
        # (the module's other tests' servers count too, deleted ones as "terminated")
        assert "p" in [s["name"] for s in shown_usage["Servers"]]
        assert float(shown_usage["CPU Hours"]) > 0
        cloud.openstack("server", "delete", "--wait", "p")
    finally:
        conn.close()


def test_shelve_backup_and_dump(compute_cloud: RunningCloud) -> None:
    """shelve --offload / unshelve keep the server's ports, backups rotate, and a crash
    dump reaches the (fake) guest, all through the unchanged CLI."""
    cloud = compute_cloud
    server = cloud.openstack_json("server", "create", "--image", "labs", "--flavor",
                                  "g1.nano", "--wait", "shelf")
    addresses = cloud.openstack_json("server", "show", "shelf")["addresses"]
    assert addresses, server
    cloud.openstack("server", "shelve", "--offload", "--wait", "shelf", timeout=120)
    shown = cloud.openstack_json("server", "show", "shelf")
    assert shown["status"] == "SHELVED_OFFLOADED" and not shown["OS-EXT-SRV-ATTR:host"]
    shelved = cloud.openstack_json("image", "show", "shelf-shelved")
    assert shelved["properties"]["instance_uuid"] == server["id"]
    assert cloud.openstack_json("server", "show", "shelf")["addresses"] == addresses
    cloud.openstack("server", "unshelve", "shelf")
    wait_for(lambda: status(cloud, "shelf") == "ACTIVE", 30, "shelf ACTIVE", interval=0.5)
    shown = cloud.openstack_json("server", "show", "shelf")
    assert shown["status"] == "ACTIVE" and shown["OS-EXT-SRV-ATTR:host"]
    assert shown["addresses"] == addresses  # the same ports and fixed IPs
    assert "shelf-shelved" not in {i["Name"] for i in cloud.openstack_json("image", "list")}
    events = [e["Action"] for e in cloud.openstack_json("server", "event", "list", "shelf")]
    assert events[:2] == ["unshelve", "shelve"]

    def idle() -> bool:
        return cloud.openstack_json("server", "show", "shelf")["OS-EXT-STS:task_state"] is None
    for name in ("daily-1", "daily-2", "daily-3"):
        backup = cloud.openstack_json("server", "backup", "create", "--name", name,
                                      "--type", "daily", "--rotate", "2", "shelf")
        assert backup["name"] == name
        wait_for(idle, 30, "the backup rotated", interval=0.5)
    images = cloud.openstack_json("image", "list", "--long")
    assert sorted(i["Name"] for i in images if i["Name"].startswith("daily-")) == [
        "daily-2", "daily-3"]
    cloud.openstack("--os-compute-api-version", "2.17", "server", "dump", "create", "shelf")
    wait_for(lambda: "NMI received" in cloud.openstack("console", "log", "show",
                                                       "shelf").stdout,
             30, "the NMI in the console", interval=0.5)
    cloud.openstack("server", "delete", "--wait", "shelf")
    for name in ("daily-2", "daily-3"):
        cloud.openstack("image", "delete", name)


def test_resize_and_cold_migrate(compute_cloud: RunningCloud) -> None:
    """``server resize`` (confirm and revert) and ``server migrate`` (confirm), as the
    unchanged CLI sends them, over three agents (openstacksdk only watches)."""
    cloud = compute_cloud
    conn = Connection(config=openstack.config.OpenStackConfig(
        config_files=[str(cloud.clouds_yaml)]).get_one("labs"))

    def settled(status: str) -> Any:
        def shown() -> Any:
            server = conn.compute.get_server(sid)
            return server if server.status == status and not server.task_state else None
        wait_for(shown, 30, f"mover {status}", interval=0.2)
        return conn.compute.get_server(sid)

    try:
        sid = conn.compute.create_server(
            name="mover", image_id=conn.image.find_image("labs").id, networks="none",
            flavor_id=conn.compute.find_flavor("m1.tiny").id).id
        settled("ACTIVE")
        cloud.openstack("server", "resize", "--flavor", "m1.small", "--wait", "mover")
        shown = settled("VERIFY_RESIZE")
        assert shown.flavor.original_name == "m1.small"
        cloud.openstack("server", "resize", "confirm", "mover")
        before = settled("ACTIVE").compute_host
        cloud.openstack("server", "migrate", "--wait", "mover")
        moved = settled("VERIFY_RESIZE").compute_host
        assert moved != before
        cloud.openstack("server", "migrate", "confirm", "mover")
        settled("ACTIVE")
        cloud.openstack("--os-compute-api-version", "2.56", "server", "migrate", "--host",
                        before, "mover")
        assert settled("VERIFY_RESIZE").compute_host == before
        cloud.openstack("server", "resize", "revert", "mover")
        assert settled("ACTIVE").compute_host == moved
        refused = cloud.openstack("server", "resize", "--flavor", "m1.small", "mover",
                                  check=False)
        assert refused.returncode != 0 and "must change flavor" in refused.stderr
        actions = [a.action for a in conn.compute.server_actions(sid)]
        assert actions[:5] == ["revertResize", "migrate", "confirmResize", "migrate",
                               "confirmResize"]
        conn.compute.delete_server(sid)
    finally:
        conn.close()
