"""The account lockout and the bounded bcrypt work, over HTTP, on SQLite and MariaDB."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from labs.common.db import Database
from labs.common.errors import ServiceUnavailable
from labs.common.runner import compose
from labs.identity.api import build_api
from labs.identity.bootstrap import bootstrap
from labs.identity.config import IdentityOptions
from labs.identity.passwords import NICENESS, PasswordChecks
from labs.wiring.identity import new_identity
from tests.conftest import ADMIN_PASSWORD, TEST_ROUNDS, Cloud

V3 = "/identity/v3"


def login(cloud: Cloud, user: str, password: str) -> int:
    resp = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}}}})
    if resp.status_code == 401:  # a locked user is told nothing more than a wrong password
        assert resp.json()["error"]["message"] == ("The request you have made requires "
                                                   "authentication.")
    return resp.status_code


@contextmanager
def served(db_url: str, data_dir: Path, **options: Any) -> Iterator[Cloud]:
    """One identity process's service and app; two of them share the database."""
    service = new_identity(Database(db_url), IdentityOptions(
        password_hash_rounds=TEST_ROUNDS, **options), data_dir)
    service.prepare()
    bootstrap(service, "http://testserver", data_dir, admin_password=ADMIN_PASSWORD)
    app = compose({"/identity": build_api(service).app()})
    try:
        with TestClient(app, base_url="http://testserver") as client:
            yield Cloud(service, client)
    finally:
        service.store.db.dispose()


@pytest.fixture
def strict(db_url: str, tmp_path: Path) -> Iterator[Cloud]:
    with served(db_url, tmp_path, lockout_failure_attempts=3, lockout_duration=2) as cloud:
        yield cloud


def test_failures_lock_the_user_until_the_duration_passes(strict: Cloud) -> None:
    strict.user("mia", "right")
    assert [login(strict, "mia", "wrong") for _ in range(3)] == [401] * 3
    locked_at = time.monotonic()
    assert login(strict, "mia", "right") == 401
    time.sleep(max(0.0, 2.2 - (time.monotonic() - locked_at)))
    assert login(strict, "mia", "right") == 201


def test_a_success_starts_the_count_again(strict: Cloud) -> None:
    strict.user("ned", "right")
    for _ in range(3):
        assert [login(strict, "ned", "wrong") for _ in range(2)] == [401, 401]
        assert login(strict, "ned", "right") == 201


def test_an_admin_unlocks_by_enabling_the_user(db_url: str, tmp_path: Path) -> None:
    with served(db_url, tmp_path, lockout_failure_attempts=2, lockout_duration=0) as cloud:
        user_id = cloud.user("ola", "right")
        assert [login(cloud, "ola", "wrong") for _ in range(2)] == [401, 401]
        assert login(cloud, "ola", "right") == 401  # duration 0: until an admin acts
        h = cloud.headers(cloud.admin_token())
        resp = cloud.client.patch(f"{V3}/users/{user_id}", headers=h,
                                  json={"user": {"enabled": True}})
        assert resp.status_code == 200
        assert login(cloud, "ola", "right") == 201


def test_wrong_original_passwords_count_too(strict: Cloud) -> None:
    user_id = strict.user("pia", "right")
    token = strict.token("pia", "right")
    for _ in range(3):
        resp = strict.client.post(f"{V3}/users/{user_id}/password",
                                  headers=strict.headers(token),
                                  json={"user": {"original_password": "guess",
                                                 "password": "new"}})
        assert resp.status_code == 401
    assert login(strict, "pia", "right") == 401


def test_two_processes_share_the_count(db_url: str, tmp_path: Path) -> None:
    with served(db_url, tmp_path / "a", lockout_failure_attempts=3, lockout_duration=60) as a, \
            served(db_url, tmp_path / "b", lockout_failure_attempts=3,
                   lockout_duration=60) as b:
        a.user("quinn", "right")
        assert [login(a, "quinn", "wrong"), login(b, "quinn", "wrong"),
                login(a, "quinn", "wrong")] == [401] * 3
        assert login(b, "quinn", "right") == 401
        assert login(a, "quinn", "right") == 401


def test_parallel_guesses_stop_at_the_lock(strict: Cloud) -> None:
    strict.user("rex", "right")
    backend = strict.identity.backend
    checks = []
    real = backend.check_password

    def counted(tx: Any, user_id: str, password: str) -> bool:
        checks.append(password)
        return real(tx, user_id, password)

    backend.check_password = counted  # type: ignore[method-assign]
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: login(strict, "rex", "wrong"), range(24)))
    assert set(answers) <= {401, 503} and answers.count(401) >= 3
    assert len(checks) < 24  # once locked, the rest were refused before bcrypt
    before = len(checks)
    assert login(strict, "rex", "right") == 401
    assert len(checks) == before


def test_parallel_right_passwords_do_not_lock(strict: Cloud) -> None:
    strict.user("sid", "right")
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: login(strict, "sid", "right"), range(24)))
    assert answers == [201] * 24


def test_an_unknown_user_costs_a_check_as_a_known_one(cloud: Cloud) -> None:
    calls = []
    real = cloud.identity.passwords.verify

    def counted(secret: str, hashed: str | None) -> bool:
        calls.append(hashed)
        return real(secret, hashed)

    cloud.identity.passwords.verify = counted  # type: ignore[method-assign]
    assert login(cloud, "nobody", "guess") == 401
    assert calls == [None]


def test_bcrypt_runs_in_low_priority_threads() -> None:
    checks = PasswordChecks(rounds=4, concurrent=1)
    assert checks.run(lambda: os.getpriority(os.PRIO_PROCESS,
                                             threading.get_native_id())) == NICENESS
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == 0


def test_bcrypt_work_is_bounded_and_the_excess_refused_at_once() -> None:
    checks = PasswordChecks(rounds=4, concurrent=1, waiting=1)
    release = threading.Event()
    inside = threading.Event()

    def hold() -> bool:
        inside.set()
        return release.wait(10)

    holder = threading.Thread(target=lambda: checks.run(hold))
    holder.start()
    assert inside.wait(10)
    waiter = threading.Thread(target=lambda: checks.hash("queued"))
    waiter.start()
    deadline = time.monotonic() + 10
    while checks._admitted < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        checks.verify("one too many", None)
    assert time.monotonic() - started < 1.0
    release.set()
    holder.join(10)
    waiter.join(10)
    assert checks.verify("after", checks.hash("after"))
