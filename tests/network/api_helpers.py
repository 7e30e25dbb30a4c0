"""The network API in-process next to identity (on SQLite and MariaDB), with networks
made for projects a and b as their first VMs would make them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from labs.common.runner import compose
from labs.identity.api import build_api as identity_api
from labs.identity.resources import ProjectFilter
from labs.network.api import build_api as network_api
from labs.network.config import NetworkOptions
from labs.network.fixed_ips import ProjectNetwork
from labs.network.service import NetworkService
from labs.wiring.network import new_network
from tests.conftest import Cloud

V2 = "/network/v2.0"
#: caller -> (project, role); admin is the cloud admin in project admin.
PEOPLE = {"alice": ("a", "member"), "ann": ("a", "reader"), "amy": ("a", "projectadmin"),
          "bob": ("b", "member")}
OPTIONS = NetworkOptions(fixed_range="10.68.0.0/16", network_prefix=24,
                         floating_range="172.24.4.0/24", floating_pool="public")


@dataclass
class Net:
    """The network API as each caller sees it."""

    cloud: Cloud
    client: TestClient
    service: NetworkService
    projects: dict[str, str]
    networks: dict[str, ProjectNetwork]  # project name -> its network

    def token(self, who: str) -> str:
        if who == "admin":
            return self.cloud.admin_token()
        project, _ = PEOPLE[who]
        return self.cloud.token(who, "pw", project)

    def call(self, method: str, path: str, who: str | None = "alice", *,
             params: Any = None, json: Any = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {"X-Auth-Token": self.token(who)} if who else {}
        sent.update(headers or {})
        url = path if path.startswith("/network/") else V2 + path
        return self.client.request(method, url, params=params, json=json, headers=sent)

    def ok(self, path: str, who: str = "alice", **params: Any) -> Any:
        resp = self.call("GET", path, who, params=params)
        assert resp.status_code == 200, f"GET {path} as {who}: {resp.status_code} {resp.text}"
        return resp.json()

    def owners(self, path: str, who: str = "alice", **params: Any) -> list[str]:
        """Whose each listed network or subnet is, in order: a project's name, or
        "external" for the public network's."""
        by_id = {v: k for k, v in self.projects.items()}
        external = self.external_id()
        return ["external" if external in (item["id"], item.get("network_id"))
                else by_id[item["project_id"]]
                for item in self.ok(path, who, **params)[path.strip("/")]]

    def external_id(self) -> str:
        return self.service.topology.external().id


def error(resp: httpx.Response, code: int, type_: str) -> dict[str, Any]:
    """Neutron's error body: ``{"NeutronError": {"type", "message", "detail"}}``."""
    assert resp.status_code == code, f"{resp.status_code} != {code}: {resp.text[:400]}"
    body: dict[str, Any] = resp.json()
    assert set(body) == {"NeutronError"}, body
    inner = body["NeutronError"]
    assert inner["type"] == type_ and inner["detail"] == "", body
    assert isinstance(inner["message"], str) and inner["message"], body
    return inner


def make_net(cloud: Cloud) -> Iterator[Net]:
    db = cloud.identity.store.db
    projects = {"admin": cloud.identity.resources.list_projects(
        ProjectFilter(name="admin"))[0].id}
    for name in ("a", "b", "c"):
        projects[name] = cloud.project(name)
    for who, (project, role) in PEOPLE.items():
        cloud.user(who, "pw", {project: role})
    service = new_network(db, OPTIONS, projects["admin"])
    service.prepare()
    networks = {name: service.fixed_ips.ensure_network(db, projects[name])
                for name in ("a", "b")}
    app = compose({"/identity": identity_api(cloud.identity).app(),
                   "/network": network_api(service, cloud.identity.tokens).app()})
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        yield Net(Cloud(cloud.identity, client), client, service, projects, networks)


@pytest.fixture(name="net")
def net_fixture(cloud: Cloud) -> Iterator[Net]:
    """The network API of a test cloud where projects a and b have a network each (c has
    none yet); import ``net_fixture`` to use the ``net`` fixture."""
    yield from make_net(cloud)
