"""A whole compute control plane in one process: API, conductor, scheduler and fake
agents, each on its own in-process bus (as they would be in their own processes), built
through `labs.wiring` as `labs up` builds them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from labs.common.bus import Bus, InProcessBus
from labs.common.runner import compose
from labs.compute.agent.manager import Agent
from labs.compute.api.routes import build_api as compute_api
from labs.compute.api.service import ComputeService
from labs.compute.conductor.manager import Conductor
from labs.compute.config import ComputeOptions
from labs.compute.scheduler.config import SchedulerOptions
from labs.compute.virt.fake import FakeDriver
from labs.identity.api import build_api as identity_api
from labs.identity.resources import ProjectFilter
from labs.image.api import build_api as image_api
from labs.image.config import ImageOptions
from labs.network.agent.host import HostNetworking
from labs.network.api import build_api as network_api
from labs.network.config import NetworkOptions
from labs.wiring.agent import agent_on
from labs.wiring.compute import conductor_on, new_compute, scheduler_on
from labs.wiring.image import LocalImages, new_images
from labs.wiring.network import new_network
from tests.conftest import Cloud

#: Who is who in compute tests: user -> (password, project, role).
PEOPLE = {"alice": ("pw", "a", "member"), "ann": ("pw", "a", "reader"),
          "bob": ("pw", "b", "member")}
LATEST = "2.100"


@dataclass
class Plane:
    """The control plane and a client for its API."""

    cloud: Cloud
    client: TestClient
    service: ComputeService
    conductor: Conductor
    image_id: str
    state_dir: Path
    namespace: str
    buses: list[Bus] = field(default_factory=list)
    agents: dict[str, Agent] = field(default_factory=dict)

    def token(self, who: str) -> str:
        if who == "admin":
            return self.cloud.admin_token()
        password, project, _ = PEOPLE[who]
        return self.cloud.token(who, password, project)

    def call(self, method: str, path: str, who: str = "alice", *, version: str = LATEST,
             json: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {"X-Auth-Token": self.token(who), **(headers or {})}
        if version:
            sent["OpenStack-API-Version"] = f"compute {version}"
        return self.client.request(method, "/compute/v2.1" + path, json=json, headers=sent)

    def ok(self, method: str, path: str, who: str = "alice", **kw: Any) -> Any:
        resp = self.call(method, path, who, **kw)
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None

    def create(self, who: str = "alice", name: str = "vm", wait: str | None = "ACTIVE",
               **server: Any) -> dict[str, Any]:
        body = {"server": {"name": name, "imageRef": self.image_id, "flavorRef": "1",
                           "networks": "none", **server}}
        created = self.ok("POST", "/servers", who, json=body)["server"]
        if wait:
            return self.wait(created["id"], wait, who)
        return dict(created)

    def show(self, server_id: str, who: str = "alice") -> dict[str, Any]:
        return dict(self.ok("GET", f"/servers/{server_id}", who)["server"])

    def wait(self, server_id: str, status: str, who: str = "alice",
             timeout: float = 20.0) -> dict[str, Any]:
        """Poll until the server has ``status`` (and no task) or fail, bounded."""
        deadline = time.monotonic() + timeout
        shown: dict[str, Any] = {}
        while time.monotonic() < deadline:
            shown = self.show(server_id, who)
            if shown["status"] == status and shown["OS-EXT-STS:task_state"] is None:
                return shown
            time.sleep(0.02)
        raise AssertionError(f"server {server_id} not {status} after {timeout} s: {shown}")

    def wait_gone(self, server_id: str, who: str = "alice", timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.call("GET", f"/servers/{server_id}", who).status_code == 404:
                return
            time.sleep(0.02)
        raise AssertionError(f"server {server_id} still there after {timeout} s")

    def add_agent(self, host: str, vcpus: int = 16, memory_mb: int = 65536,
                  disk_gb: int = 1024, zone: str = "nova", *, reserved_memory_mb: int = 0,
                  memory_overhead_mb: int = 0,
                  memory_available_mb: int | None = None) -> Agent:
        bus = self._bus(f"compute.{host}")
        driver = FakeDriver(self.state_dir, host, vcpus=vcpus, memory_mb=memory_mb,
                            disk_gb=disk_gb,
                            vcpu_overcommit=self.service.options.cpu_allocation_ratio,
                            memory_overhead_mb=memory_overhead_mb,
                            memory_available_mb=memory_available_mb)
        agent = agent_on(bus, host, zone, driver, heartbeat_seconds=1.0, workers=8,
                         network=HostNetworking(None), reserved_memory_mb=reserved_memory_mb)
        bus.start()
        agent.start()
        self.agents[host] = agent
        return agent

    def stop_agent(self, host: str) -> None:
        self.agents.pop(host).stop()

    def _bus(self, publisher: str) -> Bus:
        bus = InProcessBus(self.namespace, publisher_id=publisher)
        self.buses.append(bus)
        return bus


def make_plane(cloud: Cloud, tmp_path: Path, hosts: tuple[str, ...] = ("h1", "h2", "h3"),
               options: ComputeOptions | None = None, **agent_size: Any) -> Iterator[Plane]:
    db = cloud.identity.store.db
    options = options or ComputeOptions(heartbeat_seconds=1.0, service_down_seconds=30.0)
    namespace = f"t{uuid.uuid4().hex[:10]}"
    images = new_images(db, ImageOptions(store_dir=str(tmp_path / "images")), tmp_path)
    images.prepare()
    admin = next(iter(cloud.identity.resources.list_projects(ProjectFilter(name="admin"))))
    projects = {"admin": admin.id}
    for name in {p for _, p, _ in PEOPLE.values()}:
        projects[name] = cloud.project(name)
    for user, (password, project, role) in PEOPLE.items():
        cloud.user(user, password, {project: role})

    api_bus = InProcessBus(namespace, publisher_id="compute.api")
    service = new_compute(db, api_bus, LocalImages(images), options, NetworkOptions())
    service.prepare()
    control_bus = InProcessBus(namespace, publisher_id="compute.control")
    scheduler_on(control_bus, db, options, SchedulerOptions())
    conductor = conductor_on(control_bus, db, options, NetworkOptions())
    app = compose({"/identity": identity_api(cloud.identity).app(),
                   "/image": image_api(images, cloud.identity.tokens).app(),
                   "/compute": compute_api(service, cloud.identity.tokens).app(),
                   "/network": network_api(new_network(db, NetworkOptions(), admin.id, api_bus),
                                           cloud.identity.tokens,
                                           service.network_proxy, service.network_proxy,
                                           service.network_proxy).app()})
    with TestClient(app, base_url="http://testserver") as client:
        plane = Plane(Cloud(cloud.identity, client), client, service, conductor, "",
                      tmp_path / "agents", namespace, [api_bus, control_bus])
        api_bus.start()
        control_bus.start()
        try:
            plane.image_id = _public_image(plane)
            for host in hosts:
                plane.add_agent(host, **agent_size)
            yield plane
        finally:
            for host in list(plane.agents):
                plane.stop_agent(host)
            for bus in reversed(plane.buses):
                bus.stop()


def _public_image(plane: Plane) -> str:
    token = plane.cloud.admin_token()
    made = plane.client.post("/image/v2/images", headers={"X-Auth-Token": token}, json={
        "name": "cirros", "disk_format": "raw", "container_format": "bare",
        "visibility": "public"})
    assert made.status_code == 201, made.text
    image_id = str(made.json()["id"])
    put = plane.client.put(f"/image/v2/images/{image_id}/file", content=b"\0" * 4096,
                           headers={"X-Auth-Token": token,
                                    "Content-Type": "application/octet-stream"})
    assert put.status_code == 204, put.text
    return image_id


@pytest.fixture
def plane(cloud: Cloud, tmp_path: Path) -> Iterator[Plane]:
    yield from make_plane(cloud, tmp_path)


def record_casts(plane: Plane, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """The ``refresh_network`` casts the control plane sends from now on, in order (each
    still sent)."""
    sent: list[tuple[str, list[str]]] = []
    agents = plane.service.network_proxy.agents
    real = agents.refresh_network

    def record(host: str, instance_ids: list[str]) -> None:
        sent.append((host, sorted(instance_ids)))
        real(host, instance_ids)

    monkeypatch.setattr(agents, "refresh_network", record)
    return sent
