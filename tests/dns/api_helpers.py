"""The DNS API in-process next to identity (on SQLite and MariaDB), with an in-memory
backend that the tests can read and make fail."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from labs.common.runner import compose
from labs.dns.api import build_api as dns_api
from labs.dns.backends.base import BackendError, DnsBackend, Zone
from labs.dns.config import DnsOptions
from labs.dns.service import DnsService
from labs.identity.api import build_api as identity_api
from labs.identity.resources import ProjectFilter
from labs.network.config import NetworkOptions
from labs.wiring.dns import new_dns
from tests.conftest import Cloud

V2 = "/dns/v2"
#: caller -> (user, project, role); admin is the cloud admin in project admin.
PEOPLE = {"alice": ("a", "member"), "ann": ("a", "reader"), "amy": ("a", "projectadmin"),
          "bob": ("b", "member")}
NAMESERVERS = ["ns1.labs.test.", "ns2.labs.test."]
#: Where the tests' projects may make zones (the cloud's default allows none of these).
OPEN_DOMAINS = ["org", "net", "com", "test", "z", "sub"]


class MemoryBackend(DnsBackend):
    """Keeps published zones in a dict; ``failing`` makes every call raise."""

    name = "memory"

    def __init__(self) -> None:
        self.zones: dict[str, Zone] = {}
        self.failing = False
        self.pushes = 0
        self._lock = threading.Lock()

    def publish(self, zone: Zone) -> None:
        with self._lock:
            if self.failing:
                raise BackendError("the memory backend is told to fail")
            self.pushes += 1
            self.zones[zone.name] = zone

    def remove(self, zone_name: str) -> None:
        with self._lock:
            if self.failing:
                raise BackendError("the memory backend is told to fail")
            self.zones.pop(zone_name, None)

    def zone_names(self) -> list[str]:
        return sorted(self.zones)

    def serial(self, zone_name: str) -> int | None:
        zone = self.zones.get(zone_name)
        return None if zone is None else zone.serial

    def records(self, zone_name: str, name: str, type_: str) -> list[str]:
        for rs in self.zones[zone_name].recordsets:
            if rs.name == name and rs.type == type_:
                return list(rs.records)
        return []


@dataclass
class Dns:
    """The DNS API as each caller sees it."""

    cloud: Cloud
    client: TestClient
    service: DnsService
    backend: MemoryBackend
    projects: dict[str, str]

    def token(self, who: str) -> str:
        if who == "admin":
            return self.cloud.admin_token()
        project, _ = PEOPLE[who]
        return self.cloud.token(who, "pw", project)

    def call(self, method: str, path: str, who: str | None = "alice", *, json: Any = None,
             headers: dict[str, str] | None = None, params: Any = None) -> httpx.Response:
        sent = {"X-Auth-Token": self.token(who)} if who else {}
        sent.update(headers or {})
        url = path if path.startswith("/dns") else V2 + path
        return self.client.request(method, url, json=json, headers=sent, params=params)

    def ok(self, method: str, path: str, who: str = "alice", **kw: Any) -> Any:
        resp = self.call(method, path, who, **kw)
        assert resp.status_code < 300, f"{method} {path} as {who}: {resp.status_code} " \
                                       f"{resp.text}"
        return resp.json() if resp.content else None

    def zone(self, name: str, who: str = "alice", **fields: Any) -> dict[str, Any]:
        body = {"name": name, "email": f"hostmaster@{name.rstrip('.')}", **fields}
        resp = self.call("POST", "/zones", who, json=body)
        assert resp.status_code == 202, resp.text
        created: dict[str, Any] = resp.json()
        return created

    def recordset(self, zone_id: str, name: str, type_: str, records: list[str],
                  who: str = "alice", **fields: Any) -> httpx.Response:
        return self.call("POST", f"/zones/{zone_id}/recordsets", who,
                         json={"name": name, "type": type_, "records": records, **fields})

    def rrsets(self, zone_id: str, who: str = "alice", **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.ok("GET", f"/zones/{zone_id}/recordsets", who,
                                              params=params)["recordsets"]
        return found


def error(resp: httpx.Response, code: int, type_: str) -> dict[str, Any]:
    """Designate's error body: ``{"code", "type", "message", "request_id"}``."""
    assert resp.status_code == code, f"{resp.status_code} != {code}: {resp.text[:400]}"
    body: dict[str, Any] = resp.json()
    assert body["code"] == code and body["type"] == type_, body
    assert body["request_id"] == resp.headers["x-openstack-request-id"], body
    assert isinstance(body["message"], str) and body["message"], body
    return body


def make_dns(cloud: Cloud, **options: Any) -> Iterator[Dns]:
    db = cloud.identity.store.db
    projects = {"admin": cloud.identity.resources.list_projects(
        ProjectFilter(name="admin"))[0].id}
    for name in sorted({p for p, _ in PEOPLE.values()}):
        projects[name] = cloud.project(name)
    for who, (project, role) in PEOPLE.items():
        cloud.user(who, "pw", {project: role})
    backend = MemoryBackend()
    service = new_dns(db, DnsOptions(nameservers=NAMESERVERS, **options), backend,
                      projects["admin"], NetworkOptions(dns_domain="labs.internal"))
    service.prepare()
    app = compose({"/identity": identity_api(cloud.identity).app(),
                   "/dns": dns_api(service, cloud.identity.tokens).app()})
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        yield Dns(Cloud(cloud.identity, client), client, service, backend, projects)


@pytest.fixture(name="dns")
def dns_fixture(cloud: Cloud) -> Iterator[Dns]:
    """The DNS API of a test cloud (import ``dns_fixture`` to use the ``dns`` fixture),
    where projects may make zones under the test names' TLDs."""
    yield from make_dns(cloud, project_zone_domains=OPEN_DOMAINS)
