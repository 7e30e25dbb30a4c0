"""`labs serve identity`: several workers over MariaDB, and key rotation."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.conftest import BIN, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def served(tmp_path: Path, mariadb_url: str) -> Iterator[tuple[str, Path]]:
    port = free_port()
    data_dir = tmp_path / "data"
    env = {**os.environ, "LABS_IDENTITY_PASSWORD_HASH_ROUNDS": "4"}
    with open(tmp_path / "serve.log", "w") as log:
        process = subprocess.Popen(
            [str(BIN / "labs"), "serve", "identity", "--data-dir", str(data_dir), "--bind",
             f"127.0.0.1:{port}", "--db", mariadb_url, "--workers", "2"],
            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("labs serve identity did not answer:\n"
                                 + (tmp_path / "serve.log").read_text()[-3000:])
        yield url, data_dir
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def admin_auth(data_dir: Path) -> dict[str, object]:
    auth = yaml.safe_load((data_dir / "clouds.yaml").read_text())["clouds"]["labs"]["auth"]
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"name": "Default"}, "password": auth["password"]}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}


def fresh_get(url: str, headers: dict[str, str]) -> int:
    """One request on a new connection, so that the kernel may pick either worker."""
    with httpx.Client(timeout=10) as client:
        return client.get(url, headers=headers).status_code


def test_revocation_reaches_every_worker(served: tuple[str, Path]) -> None:
    url, data_dir = served
    v3 = f"{url}/identity/v3"
    resp = httpx.post(f"{v3}/auth/tokens", json=admin_auth(data_dir), timeout=10)
    assert resp.status_code == 201, resp.text
    admin = resp.headers["X-Subject-Token"]
    victim = httpx.post(f"{v3}/auth/tokens", json=admin_auth(data_dir),
                        timeout=10).headers["X-Subject-Token"]
    # warm the caches of both workers
    assert {fresh_get(f"{v3}/projects", {"X-Auth-Token": victim}) for _ in range(20)} == {200}
    resp = httpx.delete(f"{v3}/auth/tokens", headers={"X-Auth-Token": admin,
                                                      "X-Subject-Token": victim}, timeout=10)
    assert resp.status_code == 204
    assert {fresh_get(f"{v3}/projects", {"X-Auth-Token": victim}) for _ in range(20)} == {401}
    assert {fresh_get(f"{v3}/projects", {"X-Auth-Token": admin}) for _ in range(5)} == {200}


def test_rotate_keys_command(served: tuple[str, Path]) -> None:
    url, data_dir = served
    v3 = f"{url}/identity/v3"
    old = httpx.post(f"{v3}/auth/tokens", json=admin_auth(data_dir),
                     timeout=10).headers["X-Subject-Token"]
    for _ in range(2):
        out = subprocess.run([str(BIN / "labs"), "identity", "rotate-keys", "--data-dir",
                              str(data_dir)], capture_output=True, text=True, timeout=60,
                             check=True)
        assert "primary is now key" in out.stdout
    new = httpx.post(f"{v3}/auth/tokens", json=admin_auth(data_dir),
                     timeout=10).headers["X-Subject-Token"]
    assert {fresh_get(f"{v3}/projects", {"X-Auth-Token": new}) for _ in range(10)} == {200}
    # the key that signed `old` is gone after two rotations with three keys kept
    assert {fresh_get(f"{v3}/projects", {"X-Auth-Token": old}) for _ in range(10)} == {401}
