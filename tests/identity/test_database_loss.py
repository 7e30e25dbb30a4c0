"""The database connection dies under a running service: no 500, and it recovers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from starlette.testclient import TestClient

from labs.common.db import Database
from labs.common.runner import compose
from labs.identity.api import build_api
from labs.identity.bootstrap import bootstrap
from labs.identity.config import IdentityOptions
from labs.wiring.identity import new_identity
from tests.conftest import ADMIN_PASSWORD, MARIADB, TEST_ROUNDS


@pytest.fixture
def client(mariadb_url: str, tmp_path: Path) -> Iterator[TestClient]:
    service = new_identity(Database(mariadb_url),
                           IdentityOptions(password_hash_rounds=TEST_ROUNDS), tmp_path)
    service.prepare()
    bootstrap(service, "http://testserver", tmp_path, admin_password=ADMIN_PASSWORD)
    with TestClient(compose({"/identity": build_api(service).app()})) as c:
        yield c
    service.store.db.dispose()


def kill_connections(database: str) -> int:
    killed = 0
    conn = pymysql.connect(**MARIADB, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM information_schema.processlist WHERE db = %s", (database,))
        for (thread_id,) in cur.fetchall():
            cur.execute(f"KILL CONNECTION {int(thread_id)}")
            killed += 1
    conn.close()
    return killed


def test_lost_connections_give_503_or_success_then_recover(client: TestClient,
                                                           mariadb_url: str) -> None:
    auth: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": ADMIN_PASSWORD}}}}}
    token = client.post("/identity/v3/auth/tokens", json=auth).headers["X-Subject-Token"]
    headers = {"X-Auth-Token": token}
    assert client.get("/identity/v3/projects", headers=headers).status_code == 200
    assert kill_connections(mariadb_url.rsplit("/", 1)[1]) >= 1
    statuses = [client.get("/identity/v3/projects", headers=headers).status_code
                for _ in range(3)]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[-1] == 200
