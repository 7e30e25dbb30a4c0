"""The image API in-process next to identity, on SQLite and MariaDB."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from labs.common.runner import compose
from labs.identity.api import build_api as identity_api
from labs.identity.resources import ProjectFilter
from labs.image.api import build_api as image_api
from labs.image.config import ImageOptions
from labs.image.service import ImageService
from labs.wiring.image import new_images
from tests.conftest import Cloud

V2 = "/image/v2"
#: Small on purpose: the quota test goes over it with a few hundred KiB.
QUOTA = 1 << 20
#: Downloads and uploads stream in chunks this big, so ranges cross chunk edges.
CHUNK = 4096
#: caller -> (user, password, project); admin is the cloud admin in project admin.
LOGINS = {"alice": ("alice", "pw", "a"), "amy": ("amy", "pw", "a"),
          "reader": ("reada", "pw", "a"), "bob": ("bob", "pw", "b"),
          "carol": ("carol", "pw", "c")}
ROLES = {"alice": "member", "amy": "projectadmin", "reader": "reader", "bob": "member",
         "carol": "member"}
PATCH = {"content-type": "application/openstack-images-v2.1-json-patch"}
OCTETS = {"content-type": "application/octet-stream"}


@dataclass
class Images:
    """The image API as each caller sees it; a crash comes back as a 500, not a raise."""

    cloud: Cloud
    service: ImageService
    client: TestClient
    store_dir: Path
    projects: dict[str, str]

    def token(self, who: str) -> str:
        if who == "admin":
            return self.cloud.admin_token()
        user, password, project = LOGINS[who]
        return self.cloud.token(user, password, project)

    def project_of(self, who: str) -> str:
        return self.projects["admin" if who == "admin" else LOGINS[who][2]]

    def call(self, method: str, path: str, who: str | None = "admin", *,
             json: Any = None, content: bytes | None = None,
             headers: dict[str, str] | None = None,
             params: Any = None) -> httpx.Response:
        h = {"X-Auth-Token": self.token(who)} if who else {}
        h.update(headers or {})
        url = path if path.startswith("/image/") else V2 + path
        return self.client.request(method, url, json=json, content=content, headers=h,
                                   params=params)

    def ok(self, method: str, path: str, who: str = "admin", **kw: Any) -> Any:
        resp = self.call(method, path, who, **kw)
        assert resp.is_success, f"{method} {path} as {who}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content and "json" in resp.headers.get(
            "content-type", "") else resp.content

    def create(self, who: str = "admin", **fields: Any) -> dict[str, Any]:
        resp = self.call("POST", "/images", who, json=fields)
        assert resp.status_code == 201, f"create as {who}: {resp.status_code} {resp.text}"
        body: dict[str, Any] = resp.json()
        return body

    def upload(self, image_id: str, data: bytes, who: str = "admin") -> httpx.Response:
        return self.call("PUT", f"/images/{image_id}/file", who, content=data,
                         headers=OCTETS)

    def patch(self, image_id: str, ops: list[dict[str, Any]], who: str = "admin"
              ) -> httpx.Response:
        return self.call("PATCH", f"/images/{image_id}", who, json=ops, headers=PATCH)

    def show(self, image_id: str, who: str = "admin") -> dict[str, Any]:
        body: dict[str, Any] = self.ok("GET", f"/images/{image_id}", who)
        return body

    def ids(self, who: str = "admin", **params: Any) -> list[str]:
        resp = self.call("GET", "/images", who, params=params)
        assert resp.status_code == 200, resp.text
        return [i["id"] for i in resp.json()["images"]]

    def stored_files(self) -> list[str]:
        """Every file in the store directory, upload leftovers included."""
        return sorted(p.name for p in self.store_dir.iterdir())


def error_message(resp: httpx.Response, code: int) -> str:
    """The Glance error body: ``{"code": "404 Not Found", "title", "message"}``."""
    assert resp.status_code == code, f"{resp.status_code} != {code}: {resp.text[:300]}"
    body = resp.json()
    assert set(body) == {"code", "title", "message"}, body
    assert body["code"] == f"{code} {body['title']}", body
    assert isinstance(body["title"], str) and body["title"], body
    assert isinstance(body["message"], str) and body["message"], body
    return str(body["message"])


def make_images(cloud: Cloud, tmp_path: Path, **options: Any) -> Iterator[Images]:
    store_dir = tmp_path / "image-store"
    opts = {"store_dir": str(store_dir), "project_quota_bytes": QUOTA, "chunk_size": CHUNK,
            **options}
    service = new_images(cloud.identity.store.db, ImageOptions(**opts), tmp_path)
    service.prepare()
    projects = {"admin": cloud.identity.resources.list_projects(
        ProjectFilter(name="admin"))[0].id}
    for name in ("a", "b", "c"):
        projects[name] = cloud.project(name)
    for who, (user, password, project) in LOGINS.items():
        cloud.user(user, password, {project: ROLES[who]})
    app = compose({"/identity": identity_api(cloud.identity).app(),
                   "/image": image_api(service, cloud.identity.tokens).app()})
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        yield Images(Cloud(cloud.identity, client), service, client, store_dir, projects)


@pytest.fixture
def images(cloud: Cloud, tmp_path: Path) -> Iterator[Images]:
    yield from make_images(cloud, tmp_path)


@pytest.fixture(scope="session")
def qcow2(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real qcow2 file from qemu-img: 64 MiB virtual, a few hundred KiB on disk."""
    path = tmp_path_factory.mktemp("qcow2") / "x.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(path), "64M"], check=True,
                   capture_output=True, timeout=30)
    return path.read_bytes()
