"""A directory that dies or hangs mid-request: a clear 503, and no half-made account in
the directory or in SQL. A real slapd of the test's own is killed (SIGKILL) or frozen
(SIGSTOP) between two steps of a request."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from labs.common.db import Database
from labs.common.errors import ServiceUnavailable
from labs.common.runner import compose
from labs.directory.connection import Directory
from labs.directory.slapd import PrivateSlapd
from labs.identity.api import build_api
from labs.identity.backends.base import PosixIdentity, UserFilter, UserRecord
from labs.identity.backends.ldap import LdapIdentityBackend
from labs.identity.bootstrap import bootstrap
from labs.identity.config import IdentityOptions
from labs.wiring.identity import new_identity
from tests.conftest import ADMIN_PASSWORD, TEST_ROUNDS, Cloud

V3 = "/identity/v3"


@dataclass
class Outage:
    slapd: PrivateSlapd
    backend: LdapIdentityBackend
    cloud: Cloud

    def kill(self) -> None:
        pid = self.slapd.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        self.slapd.stop()  # reaps it

    def kill_at(self, wanted: str) -> None:
        def hook(step: str) -> None:
            if step == wanted:
                self.kill()
        self.backend.undo.before_write = hook

    def restart(self) -> None:
        self.backend.undo.before_write = lambda step: None
        url = self.slapd.start().url
        assert url == self.backend.directory.url  # back where the site's processes look


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[Outage]:
    slapd = PrivateSlapd(tmp_path / "slapd")
    address = slapd.start()
    directory = Directory(address.url, address.admin_dn, address.admin_password,
                          address.base_dn, connect_timeout=2.0, timeout=3.0)
    backend = LdapIdentityBackend(directory, TEST_ROUNDS)
    service = new_identity(Database(f"sqlite:///{tmp_path / 'labs.db'}"),
                           IdentityOptions(password_hash_rounds=TEST_ROUNDS), tmp_path,
                           backend)
    service.prepare()
    bootstrap(service, "http://testserver", tmp_path, admin_password=ADMIN_PASSWORD)
    app = compose({"/identity": build_api(service).app()})
    try:
        with TestClient(app, base_url="http://testserver") as client:
            yield Outage(slapd, backend, Cloud(service, client))
    finally:
        directory.close()
        service.store.db.dispose()
        slapd.stop()


def _named(outage: Outage, name: str) -> list[UserRecord]:
    return outage.cloud.identity.users.list_users(UserFilter(name=name))


def test_a_directory_killed_before_the_sign_up_gives_503_and_no_account(
        outage: Outage) -> None:
    cloud = outage.cloud
    headers = cloud.headers(cloud.admin_token())
    revision = cloud.identity.store.revision()
    outage.kill_at("create user")
    resp = cloud.client.post(f"{V3}/users", headers=headers,
                             json={"user": {"name": "newbie", "password": "pw"}})
    assert resp.status_code == 503, resp.text
    error = resp.json()["error"]
    assert error["code"] == 503 and "directory is unavailable" in error["message"]
    # while it is down, reads say so too
    assert cloud.client.get(f"{V3}/users", headers=headers).status_code == 503
    assert cloud.identity.store.revision() == revision  # SQL kept nothing either
    outage.restart()
    assert _named(outage, "newbie") == []
    resp = cloud.client.post(f"{V3}/users", headers=headers,
                             json={"user": {"name": "newbie", "password": "pw"}})
    assert resp.status_code == 201, resp.text
    assert cloud.token("newbie", "pw")


def test_a_directory_killed_mid_sign_up_leaves_no_half_made_account(outage: Outage) -> None:
    """Sign-up makes the person and puts them in a group; the directory dies between."""
    identity = outage.cloud.identity
    group = identity.users.create_group({"name": "newcomers"}, "default")
    revision = identity.store.revision()
    outage.kill_at("add member")
    record = UserRecord(id="id-newbie", name="newbie", domain_id="default",
                        posix=PosixIdentity("newbie", 7000, 7000, "/home/newbie"))
    with pytest.raises(ServiceUnavailable, match="directory"), identity.store.write() as tx:
        outage.backend.create_user(tx, record, "pw")
        outage.backend.add_user_to_group(tx, "id-newbie", group.id)
    assert identity.store.revision() == revision
    outage.restart()
    # the undo that could not run then runs before the directory's next request
    assert _named(outage, "newbie") == []
    address = outage.slapd.running_address()
    assert address is not None
    another = Directory(address.url, address.admin_dn, address.admin_password,
                        address.base_dn)
    try:
        assert another.search(f"ou=people,{address.base_dn}", "(uid=newbie)", ["uid"]) == []
    finally:
        another.close()
    assert identity.users.list_group_members(group.id) == []


def test_a_frozen_directory_times_out_with_503(outage: Outage) -> None:
    cloud = outage.cloud
    headers = cloud.headers(cloud.admin_token())
    pid = outage.slapd.pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        resp = cloud.client.get(f"{V3}/users", headers=headers)
        assert resp.status_code == 503, resp.text
        assert time.monotonic() - started < 30
    finally:
        os.kill(pid, signal.SIGCONT)
    assert cloud.client.get(f"{V3}/users", headers=headers).status_code == 200
