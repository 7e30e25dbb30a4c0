"""Shared fixtures: databases on both engines, an identity service, a test cloud."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
import pytest
from starlette.testclient import TestClient

from labs.common.db import Database
from labs.common.runner import compose
from labs.identity import models
from labs.identity.api import build_api
from labs.identity.assignments import Grant
from labs.identity.backends.ldap import LdapIdentityBackend
from labs.identity.bootstrap import bootstrap
from labs.identity.config import IdentityOptions
from labs.identity.resources import ProjectFilter
from labs.identity.service import IdentityService
from labs.wiring.identity import new_identity
from tests.directory.conftest import private_slapd

__all__ = ["private_slapd"]  # the directory's fixture, for every suite

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
#: Fast hashing for tests; the default (12) is checked on its own.
TEST_ROUNDS = 4
ADMIN_PASSWORD = "admin-secret"


@pytest.fixture(scope="session")
def mariadb_server() -> dict[str, Any]:
    try:
        pymysql.connect(**MARIADB, connect_timeout=5).close()
    except pymysql.err.OperationalError as exc:
        pytest.fail(f"MariaDB is needed at 127.0.0.1:3306 (root, no password): {exc}")
    return MARIADB


@pytest.fixture
def mariadb_url(mariadb_server: dict[str, Any]) -> Iterator[str]:
    """A fresh MariaDB database, dropped afterwards."""
    name = f"labs_test_{uuid.uuid4().hex[:12]}"
    conn = pymysql.connect(**mariadb_server, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.close()


@pytest.fixture(params=["sqlite", "mariadb"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same suite on both engines."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'labs.db'}"
    url: str = request.getfixturevalue("mariadb_url")
    return url


@pytest.fixture
def identity(db_url: str, tmp_path: Path,
             request: pytest.FixtureRequest) -> Iterator[IdentityService]:
    """The identity service; ``LABS_TEST_IDENTITY_BACKEND=ldap`` keeps its users and
    groups in the session's slapd (a subtree of their own) instead of SQL."""
    options = IdentityOptions(password_hash_rounds=TEST_ROUNDS)
    backend: LdapIdentityBackend | None = None
    if os.environ.get("LABS_TEST_IDENTITY_BACKEND", "sql") == "ldap":
        from tests.identity.conftest import subtree_directory
        backend = LdapIdentityBackend(
            subtree_directory(request.getfixturevalue("private_slapd")), TEST_ROUNDS)
    service = new_identity(Database(db_url), options, tmp_path, backend)
    service.prepare()
    bootstrap(service, "http://testserver", tmp_path, admin_password=ADMIN_PASSWORD)
    yield service
    service.store.db.dispose()
    if backend is not None:
        backend.directory.close()


@dataclass
class Cloud:
    """An identity API in-process, with helpers to make people and get tokens."""

    identity: IdentityService
    client: TestClient
    _tokens: dict[tuple[str, str | None], str] = field(default_factory=dict)

    def token(self, user: str, password: str, project: str | None = None) -> str:
        key = (user, project)
        if key not in self._tokens:
            auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {
                "user": {"name": user, "domain": {"id": "default"}, "password": password}}}}
            auth["scope"] = ({"project": {"name": project, "domain": {"id": "default"}}}
                             if project else "unscoped")
            resp = self.client.post("/identity/v3/auth/tokens", json={"auth": auth})
            assert resp.status_code == 201, resp.text
            self._tokens[key] = resp.headers["X-Subject-Token"]
        return self._tokens[key]

    def admin_token(self) -> str:
        return self.token("admin", ADMIN_PASSWORD, "admin")

    def headers(self, token: str | None) -> dict[str, str]:
        return {"X-Auth-Token": token} if token else {}

    def project(self, name: str) -> str:
        return self.identity.resources.create_project({"name": name}, "default").id

    def user(self, name: str, password: str = "pw", roles: dict[str, str] | None = None) -> str:
        """A user with ``roles``: project name -> role name."""
        user = self.identity.users.create_user({"name": name, "password": password}, "default")
        for project, role in (roles or {}).items():
            self.grant(user.id, project, role)
        return user.id

    def grant(self, user_id: str, project_name: str, role_name: str) -> None:
        ids = {p.name: p.id for p in self.identity.resources.list_projects(ProjectFilter())}
        role = self.identity.assignments.list_roles(role_name)[0]
        self.identity.assignments.create_grant(Grant(role.id, models.ACTOR_USER, user_id,
                                                     models.TARGET_PROJECT, ids[project_name]))


@pytest.fixture
def cloud(identity: IdentityService) -> Iterator[Cloud]:
    app = compose({"/identity": build_api(identity).app()})
    with TestClient(app, base_url="http://testserver") as client:
        yield Cloud(identity, client)
