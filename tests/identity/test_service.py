"""Identity service behaviour not visible through one API call."""

from __future__ import annotations

from pathlib import Path

import bcrypt

from labs.common.db import Database
from labs.identity.config import IdentityOptions
from labs.wiring.identity import new_identity
from tests.conftest import ADMIN_PASSWORD, Cloud


def test_default_password_cost_is_keystones(tmp_path: Path) -> None:
    service = new_identity(Database(f"sqlite:///{tmp_path}/x.db"), IdentityOptions(),
                           tmp_path)
    service.prepare()
    service.resources.create_domain("Default", domain_id="default")
    user = service.users.create_user({"name": "u", "password": "pw"}, "default")
    with service.store.read() as tx:
        from labs.identity import models
        hashed = tx.get(models.User, user.id).password_hash  # type: ignore[union-attr]
    assert hashed is not None and hashed.startswith("$2b$12$")
    assert bcrypt.checkpw(b"pw", hashed.encode())
    service.store.db.dispose()


def test_every_write_bumps_the_revision(cloud: Cloud) -> None:
    store = cloud.identity.store
    before = store.revision()
    cloud.project("rev-test")
    assert store.revision() == before + 1


def test_validated_tokens_are_cached_until_a_write(cloud: Cloud) -> None:
    token = cloud.admin_token()
    tokens = cloud.identity.tokens
    first = tokens.validate(token)
    assert tokens.validate(token) is first
    cloud.project("cache-test")
    assert tokens.validate(token) is not first


def test_rotate_keys_keeps_issued_tokens_valid(cloud: Cloud) -> None:
    token = cloud.token("admin", ADMIN_PASSWORD, "admin")
    cloud.identity.keys.rotate()
    cloud.project("after-rotation")  # a write, so the cache is not what answers
    assert cloud.identity.tokens.validate(token).user.name == "admin"
