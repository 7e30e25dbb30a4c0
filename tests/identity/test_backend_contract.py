"""The identity backend contract; every implementation runs this suite.

A new backend (LDAP) adds a fixture param to ``backend`` and must pass unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from labs.common.db import Database, upgrade
from labs.common.errors import Conflict, NotFound
from labs.identity import models
from labs.identity.backends.base import GroupRecord, IdentityBackend, UserFilter, UserRecord
from labs.identity.backends.sql import SqlIdentityBackend


@pytest.fixture(params=["sql"])
def backend(request: pytest.FixtureRequest) -> IdentityBackend:
    return {"sql": SqlIdentityBackend(password_hash_rounds=4)}[request.param]


@pytest.fixture
def tx(db_url: str) -> Iterator[Session]:
    db = Database(db_url)
    upgrade(db, "identity")
    with db.transaction() as session:
        session.add(models.Domain(id="default", name="Default"))
        session.flush()
        yield session
    db.dispose()


def user(name: str, **kw: object) -> UserRecord:
    return UserRecord(id=f"id-{name}", name=name, domain_id="default", **kw)  # type: ignore[arg-type]


def test_create_get_find_list(backend: IdentityBackend, tx: Session) -> None:
    created = backend.create_user(tx, user("ann", extra={"email": "a@x"}), "pw")
    assert backend.get_user(tx, created.id) == created
    assert backend.find_user(tx, "ann", "default").id == created.id
    backend.create_user(tx, user("bob", enabled=False), None)
    assert [u.name for u in backend.list_users(tx, UserFilter())] == ["ann", "bob"]
    assert [u.name for u in backend.list_users(tx, UserFilter(enabled=False))] == ["bob"]
    assert [u.name for u in backend.list_users(tx, UserFilter(ids=["id-ann"]))] == ["ann"]
    assert created.extra == {"email": "a@x"}


def test_missing_things_raise_not_found(backend: IdentityBackend, tx: Session) -> None:
    with pytest.raises(NotFound, match="nobody"):
        backend.get_user(tx, "nobody")
    with pytest.raises(NotFound):
        backend.find_user(tx, "nobody", "default")
    with pytest.raises(NotFound):
        backend.get_group(tx, "nogroup")
    with pytest.raises(NotFound):
        backend.delete_user(tx, "nobody")


def test_duplicate_names_conflict(backend: IdentityBackend, tx: Session) -> None:
    backend.create_user(tx, user("ann"), None)
    with pytest.raises(Conflict):
        backend.create_user(tx, UserRecord(id="other", name="ann", domain_id="default"), None)
    backend.create_group(tx, GroupRecord(id="g1", name="devs", domain_id="default"))
    with pytest.raises(Conflict):
        backend.create_group(tx, GroupRecord(id="g2", name="devs", domain_id="default"))
    # the session is still usable after a conflict
    assert backend.find_user(tx, "ann", "default").id == "id-ann"


def test_passwords(backend: IdentityBackend, tx: Session) -> None:
    backend.create_user(tx, user("ann"), "first")
    assert backend.check_password(tx, "id-ann", "first")
    assert not backend.check_password(tx, "id-ann", "second")
    backend.set_password(tx, "id-ann", "second")
    assert backend.check_password(tx, "id-ann", "second")
    backend.create_user(tx, user("nopw"), None)
    assert not backend.check_password(tx, "id-nopw", "")
    long = "x" * 100  # past bcrypt's 72 bytes: still accepted, compared on the first 72
    backend.set_password(tx, "id-ann", long)
    assert backend.check_password(tx, "id-ann", long)


def test_update_user(backend: IdentityBackend, tx: Session) -> None:
    backend.create_user(tx, user("ann", extra={"email": "a@x"}), None)
    updated = backend.update_user(tx, "id-ann", {"enabled": False,
                                                 "extra": {"description": "d"}})
    assert not updated.enabled
    assert updated.extra == {"email": "a@x", "description": "d"}


def test_groups_and_membership(backend: IdentityBackend, tx: Session) -> None:
    backend.create_user(tx, user("ann"), None)
    backend.create_group(tx, GroupRecord(id="g1", name="devs", domain_id="default"))
    backend.add_user_to_group(tx, "id-ann", "g1")
    backend.add_user_to_group(tx, "id-ann", "g1")  # idempotent
    assert backend.is_member(tx, "id-ann", "g1")
    assert [u.name for u in backend.list_group_members(tx, "g1")] == ["ann"]
    assert backend.list_user_group_ids(tx, "id-ann") == ["g1"]
    assert [g.name for g in backend.list_user_groups(tx, "id-ann")] == ["devs"]
    backend.remove_user_from_group(tx, "id-ann", "g1")
    with pytest.raises(NotFound):
        backend.remove_user_from_group(tx, "id-ann", "g1")
    backend.add_user_to_group(tx, "id-ann", "g1")
    backend.delete_user(tx, "id-ann")
    assert backend.list_group_members(tx, "g1") == []
    backend.delete_group(tx, "g1")
    assert backend.list_groups(tx) == []
