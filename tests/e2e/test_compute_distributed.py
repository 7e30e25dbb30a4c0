"""Compute distributed: identity, compute-api, conductor, scheduler, dns and three agents
as separate processes over MariaDB and RabbitMQ, driven with openstacksdk. Then faults:
kill -9 an agent, and the conductor, in the middle of builds; kill -9 the DNS service
while servers come and go."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pymysql
import pytest
from openstack import connection
from openstack.config import OpenStackConfig

from labs.common.context import RequestContext
from labs.common.db import Database
from labs.image.config import ImageOptions
from labs.wiring.image import new_images
from tests.common.bus_helpers import wait_for
from tests.conftest import MARIADB
from tests.e2e.conftest import BIN, dig, dig_status, free_port

RABBIT = "amqp://guest:guest@127.0.0.1:5672//"
AGENTS = ("agent-a", "agent-b", "agent-c")
#: Each agent has room for 20 g1.nano servers (128 MiB each).
AGENT_RESERVE_MB = 256  # what each agent's host keeps for itself
AGENT_MEMORY_MB = 20 * 128 + AGENT_RESERVE_MB  # room for 20 g1.nano per agent


@dataclass
class Deployment:
    base: Path
    env: dict[str, str]
    db_url: str
    identity_port: int
    compute_port: int
    dns_port: int  # the DNS service's API
    dns_server_port: int  # its embedded DNS server (UDP and TCP)
    network_port: int  # the network API
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> None:
        with open(self.base / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                [str(BIN / "labs"), *args], stdout=log, stderr=subprocess.STDOUT,
                env=self.env, start_new_session=True)

    def start_agent(self, name: str) -> None:
        self.start(name, "agent", "--host", name, "--data-dir", str(self.base / name))

    def start_conductor(self) -> None:
        self.start("conductor", "serve", "conductor")

    def start_dns(self) -> None:
        self.start("dns", "serve", "dns", "--bind", f"127.0.0.1:{self.dns_port}")
        wait_http(f"http://127.0.0.1:{self.dns_port}/dns/")

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for name, process in self.processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
                print(f"{name} did not stop on SIGTERM")

    def log(self, name: str) -> str:
        return (self.base / f"{name}.log").read_text(errors="replace")[-3000:]

    def connect(self) -> Any:
        config = OpenStackConfig(config_files=[str(self.base / "data" / "clouds.yaml")],
                                 load_envvars=False)
        return connection.Connection(config=config.get_one("labs"))




def wait_http(url: str, timeout: float = 60.0) -> None:
    def up() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code < 500
        except httpx.HTTPError:
            return False
    wait_for(up, timeout, url, interval=0.25)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    base = tmp_path_factory.mktemp("labs-distributed")
    name = f"labs_dist_{uuid.uuid4().hex[:10]}"
    conn = pymysql.connect(**MARIADB, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    db_url = f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABS_", "OS_"))}
    env.update({
        "LABS_DATA_DIR": str(base / "data"), "LABS_DATABASE_URL": db_url,
        "LABS_BUS_URL": RABBIT, "LABS_BUS_NAMESPACE": f"dist{uuid.uuid4().hex[:8]}",
        "LABS_IDENTITY_PASSWORD_HASH_ROUNDS": "4", "LABS_COMPUTE_HEARTBEAT_SECONDS": "1",
        "LABS_COMPUTE_STUCK_BUILD_SECONDS": "8", "LABS_COMPUTE_QUOTA_INSTANCES": "1000",
        "LABS_COMPUTE_QUOTA_CORES": "-1", "LABS_COMPUTE_QUOTA_RAM": "-1",
        "LABS_AGENT_DRIVER": "fake", "LABS_AGENT_FAKE_MEMORY_MB": str(AGENT_MEMORY_MB),
        "LABS_AGENT_RESERVED_HOST_MEMORY_MB": str(AGENT_RESERVE_MB),
        "LABS_AGENT_FAKE_SPAWN_SECONDS": "0.3", "LABS_NETWORK_API_IN_CATALOG": "true"})
    dep = Deployment(base, env, db_url, free_port(), free_port(), free_port(), free_port(),
                     free_port())
    env["LABS_DNS_LISTEN"] = f"127.0.0.1:{dep.dns_server_port}"
    try:
        dep.start("identity", "serve", "identity", "--bind", f"127.0.0.1:{dep.identity_port}",
                  "--workers", "1")
        wait_http(f"http://127.0.0.1:{dep.identity_port}/identity/v3")
        dep.start("compute-api", "serve", "compute-api", "--bind",
                  f"127.0.0.1:{dep.compute_port}", "--workers", "1")
        wait_http(f"http://127.0.0.1:{dep.compute_port}/compute/v2.1")
        dep.start("network", "serve", "network", "--bind", f"127.0.0.1:{dep.network_port}",
                  "--workers", "2")
        wait_http(f"http://127.0.0.1:{dep.network_port}/network/")
        dep.start_conductor()
        dep.start("scheduler", "serve", "scheduler")
        dep.start_dns()
        for agent in AGENTS:
            dep.start_agent(agent)
        register_image(dep)
        conn_ = dep.connect()
        wait_for(lambda: len(list(conn_.compute.hypervisors())) == 3, 60, "three agents",
                 interval=0.25)
        yield dep
    finally:
        dep.stop_all()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.close()


def register_image(dep: Deployment) -> None:
    """A public image in the shared database and data dir (no image API runs here)."""
    images = new_images(Database(dep.db_url), ImageOptions(), dep.base / "data")
    admin = RequestContext(user_id="admin", project_id="admin", roles=frozenset({"admin"}))
    view = images.create(admin, {"name": "tiny", "disk_format": "raw",
                                 "container_format": "bare", "visibility": "public"})
    images.data.upload(admin, view.row.id, iter([b"\0" * 4096]), 4096)
    dep.env["IMAGE_ID"] = view.row.id


def server_states(conn: Any) -> dict[str, str]:
    return {s.id: s.status for s in conn.compute.servers()}


def build(conn: Any, dep: Deployment, prefix: str, count: int) -> list[str]:
    conn.compute.create_server(name=prefix, image_id=dep.env["IMAGE_ID"], flavor_id="6",
                               networks="none", min_count=count, max_count=count)
    ids = [s.id for s in conn.compute.servers(name=f"^{prefix}-")]
    assert len(ids) == count
    return ids


def settle(conn: Any, ids: list[str], timeout: float = 120.0) -> dict[str, str]:
    states: dict[str, str] = {}

    def done() -> bool:
        states.update({k: v for k, v in server_states(conn).items() if k in ids})
        return all(states.get(i) in ("ACTIVE", "ERROR") for i in ids)
    wait_for(done, timeout, f"{len(ids)} servers ACTIVE or ERROR", interval=0.25)
    return states


def check_usage(conn: Any) -> None:
    """Usage counts are exact: the limits, the hypervisors and the servers agree."""
    servers = list(conn.compute.servers())
    limits = conn.compute.get_limits().absolute
    assert limits.total_instances_used == len(servers)
    placed = [s for s in servers if s.status == "ACTIVE"]
    by_host: dict[str, int] = {}
    for server in placed:
        by_host[server.compute_host] = by_host.get(server.compute_host, 0) + 1
    assert all(n <= (AGENT_MEMORY_MB - AGENT_RESERVE_MB) // 128
               for n in by_host.values()), by_host


def clean(conn: Any) -> None:
    for server in list(conn.compute.servers()):
        conn.compute.delete_server(server)
    wait_for(lambda: not list(conn.compute.servers()), 60, "all servers deleted", interval=0.25)


def test_servers_spread_over_agents(deployment: Deployment) -> None:
    conn = deployment.connect()
    ids = build(conn, deployment, "spread", 6)
    states = settle(conn, ids, 60)
    assert set(states.values()) == {"ACTIVE"}
    hosts = {conn.compute.get_server(i).compute_host for i in ids}
    assert hosts == set(AGENTS)
    check_usage(conn)
    clean(conn)


@pytest.mark.parametrize("victim", ["agent-b", "conductor"])
def test_kill_9_in_the_middle_of_builds(deployment: Deployment, victim: str) -> None:
    conn = deployment.connect()
    ids = build(conn, deployment, f"kill-{victim}", 50)
    time.sleep(0.5)  # builds are under way (each takes 0.3 s on its agent)
    deployment.kill(victim)
    time.sleep(1.0)
    if victim == "conductor":
        deployment.start_conductor()
    else:
        deployment.start_agent(victim)
    states = settle(conn, ids)
    assert set(states.values()) <= {"ACTIVE", "ERROR"}
    for server_id, state in states.items():
        if state == "ERROR":
            assert conn.compute.get_server(server_id).fault["message"], server_id
    # the 50 fit on the three agents: none should have run out of hosts
    assert list(states.values()).count("ACTIVE") == 50, states
    check_usage(conn)
    clean(conn)


def settled(compute: Any, server: Any, status: str) -> Any:
    """Refetch until the server shows ``status`` with no task running (the SDK's
    wait_for_server returns at once when the object it holds already has the status)."""
    found: list[Any] = []

    def check() -> bool:
        found[:] = [compute.get_server(server.id)]
        return bool(found[0].status == status and found[0].task_state is None)
    wait_for(check, 60, f"{server.id} {status}", interval=0.25)
    return found[0]


def test_sdk_core_flow(deployment: Deployment) -> None:
    conn = deployment.connect()
    compute = conn.compute
    assert {"m1.tiny", "g1.nano"} <= {f.name for f in compute.flavors()}
    key = compute.create_keypair(name="sdk-key")
    assert key.private_key and key.public_key.startswith("ssh-ed25519 ")
    made = compute.create_server(name="sdk-vm", image_id=deployment.env["IMAGE_ID"],
                                 flavor_id="6", networks="none", key_name="sdk-key",
                                 metadata={"owner": "sdk"})
    server = compute.wait_for_server(made, status="ACTIVE", interval=0.2, wait=60)
    assert server.key_name == "sdk-key" and server.metadata == {"owner": "sdk"}
    compute.reboot_server(server, "HARD")
    server = settled(compute, server, "ACTIVE")
    compute.stop_server(server)
    server = settled(compute, server, "SHUTOFF")
    compute.start_server(server)
    server = settled(compute, server, "ACTIVE")
    actions = [a.action for a in compute.server_actions(server)]
    assert actions == ["start", "stop", "reboot", "create"]
    assert [s.name for s in compute.servers()] == ["sdk-vm"]
    compute.delete_server(server)
    compute.wait_for_delete(server, interval=0.2, wait=60)
    compute.delete_keypair("sdk-key")
    check_usage(conn)


def test_dns_service_names_servers_and_survives_kill_9(deployment: Deployment) -> None:
    """`labs serve dns`: its API in the catalog, names for every server from the
    notifications, and after a kill -9 while servers came and went, exactly the live
    ones."""
    conn = deployment.connect()
    port = deployment.dns_server_port
    assert {"labs.internal.", "68.10.in-addr.arpa."} <= {z.name for z in conn.dns.zones()}

    def boot(name: str) -> tuple[Any, str]:
        made = conn.compute.create_server(name=name, image_id=deployment.env["IMAGE_ID"],
                                          flavor_id="6", networks="auto")
        server = conn.compute.wait_for_server(made, status="ACTIVE", interval=0.2, wait=60)
        return server, server.addresses["lan"][0]["addr"]

    first, address = boot("named")
    fqdn = "named.admin.labs.internal."
    wait_for(lambda: dig(port, fqdn) == [address], 10, f"{fqdn} resolving", interval=0.1)
    reverse = ".".join(reversed(address.split("."))) + ".in-addr.arpa."
    assert dig(port, reverse, "PTR") == [fqdn]

    deployment.kill("dns")
    conn.compute.delete_server(first)
    conn.compute.wait_for_delete(first, interval=0.2, wait=60)
    _, late_address = boot("late")
    deployment.start_dns()
    wait_for(lambda: dig(port, "late.admin.labs.internal.") == [late_address]
             and dig_status(port, fqdn) == "NXDOMAIN", 60,
             "the restarted DNS service converging", interval=0.25)
    assert "Traceback" not in deployment.log("dns")
    clean(conn)
    wait_for(lambda: dig_status(port, "late.admin.labs.internal.") == "NXDOMAIN", 10,
             "late unnamed", interval=0.1)


def test_network_service_alone(deployment: Deployment) -> None:
    """`labs serve network` (two workers): in the catalog; the project's network its
    first server made, with the server's address in its subnet; a floating IP
    associated through it, which `labs serve dns` names (the network's notifications
    over RabbitMQ) until it is released."""
    conn = deployment.connect()
    made = conn.compute.create_server(name="netted", image_id=deployment.env["IMAGE_ID"],
                                      flavor_id="6", networks="auto")
    server = conn.compute.wait_for_server(made, status="ACTIVE", interval=0.2, wait=60)
    address = ipaddress.ip_address(server.addresses["lan"][0]["addr"])
    try:
        lan = conn.network.find_network("lan", ignore_missing=False)
        assert lan.project_id == server.project_id and not lan.is_router_external
        (subnet,) = conn.network.subnets(network_id=lan.id)
        assert address in ipaddress.ip_network(subnet.cidr)
        public = conn.network.find_network("public", ignore_missing=False)
        assert public.is_router_external and len(list(conn.network.networks())) == 2
        # a floating IP made and associated through this service (compute's side over
        # the shared bus): the server's addresses follow
        (port,) = conn.network.ports(device_id=server.id)
        fip = conn.network.create_ip(floating_network_id=public.id)
        conn.network.update_ip(fip, port_id=port.id)
        assert conn.network.get_ip(fip.id).fixed_ip_address == str(address)
        floating = [a["addr"] for a in conn.compute.get_server(server.id).addresses["lan"]
                    if a["OS-EXT-IPS:type"] == "floating"]
        assert floating == [fip.floating_ip_address]
        port_dns = deployment.dns_server_port
        ptr = ".".join(reversed(fip.floating_ip_address.split("."))) + ".in-addr.arpa."
        wait_for(lambda: dig(port_dns, ptr, "PTR") == ["netted.admin.labs.internal."], 10,
                 f"{ptr} naming the server", interval=0.1)
        conn.network.delete_ip(fip)
        wait_for(lambda: dig_status(port_dns, ptr, "PTR") == "NXDOMAIN", 10,
                 f"{ptr} gone", interval=0.1)
    finally:
        clean(conn)
    assert "Traceback" not in deployment.log("network")


def test_dns_service_refuses_workers(tmp_path: Path) -> None:
    """The DNS service is one process: --workers is refused before anything starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABS_", "OS_"))}
    done = subprocess.run([str(BIN / "labs"), "serve", "dns", "--workers", "2", "--bus",
                           RABBIT, "--data-dir", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "runs as one process" in done.stderr and "leave out --workers" in done.stderr
    assert not (tmp_path / "data" / "labs.db").exists()
