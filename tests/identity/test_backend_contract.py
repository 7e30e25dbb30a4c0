"""The identity backend contract; every implementation runs this suite.

SQL and LDAP (a real slapd: users, passwords and groups in the directory, a subtree
per test) run it unchanged; a new backend adds a fixture param to ``backend``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from labs.common.db import Database, upgrade
from labs.common.errors import Conflict, NotFound
from labs.identity import models
from labs.identity.backends.base import (
    GroupRecord,
    IdentityBackend,
    PosixIdentity,
    UserFilter,
    UserRecord,
)
from labs.identity.backends.ldap import LdapIdentityBackend
from labs.identity.backends.sql import SqlIdentityBackend


@pytest.fixture(params=["sql", "ldap"])
def backend(request: pytest.FixtureRequest) -> IdentityBackend:
    if request.param == "ldap":
        return LdapIdentityBackend(request.getfixturevalue("ldap_directory"),
                                   password_hash_rounds=4)
    return SqlIdentityBackend(password_hash_rounds=4)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    upgrade(db, "identity")
    with db.transaction() as session:
        session.add(models.Domain(id="default", name="Default"))
    yield db
    db.dispose()


@pytest.fixture
def tx(db: Database) -> Iterator[Session]:
    with db.transaction() as session:
        yield session


_numbers = iter(range(20000, 10**6))


def user(name: str, id: str | None = None, **kw: object) -> UserRecord:
    """A user as the identity service makes one, with a POSIX identity (unless ``posix``
    says otherwise)."""
    number = next(_numbers)
    shell = "u" + re.sub(r"[^a-z0-9]", "", name.lower())[:20] + str(number)
    posix = kw.pop("posix", PosixIdentity(shell, number, number, f"/home/{shell}"))
    return UserRecord(id=id or f"id-{name}", name=name, domain_id="default",  # type: ignore[arg-type]
                      posix=posix, **kw)


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
        backend.create_user(tx, user("ann", id="other"), None)
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


def test_a_failed_request_leaves_nothing_behind(backend: IdentityBackend, db: Database) -> None:
    """On every engine: on SQLite too, where pysqlite alone would have committed what came
    before a savepoint's release (labs.common.db begins every transaction itself)."""
    with db.transaction() as tx:
        backend.create_user(tx, user("keep"), "pw")
        backend.create_group(tx, GroupRecord(id="g-keep", name="keep", domain_id="default"))
    with pytest.raises(RuntimeError), db.transaction() as tx:
        backend.create_user(tx, user("ann"), "pw")
        backend.create_group(tx, GroupRecord(id="g1", name="devs", domain_id="default"))
        backend.add_user_to_group(tx, "id-ann", "g1")
        backend.add_user_to_group(tx, "id-keep", "g-keep")
        backend.update_user(tx, "id-keep", {"name": "renamed", "extra": {"email": "k@x"}})
        backend.set_password(tx, "id-keep", "changed")
        raise RuntimeError("a later step of the request failed")
    with db.transaction() as tx:
        with pytest.raises(NotFound):
            backend.get_user(tx, "id-ann")
        with pytest.raises(NotFound):
            backend.get_group(tx, "g1")
        keep = backend.get_user(tx, "id-keep")
        assert (keep.name, keep.extra) == ("keep", {})
        assert backend.check_password(tx, "id-keep", "pw")
        assert not backend.is_member(tx, "id-keep", "g-keep")
    with pytest.raises(RuntimeError), db.transaction() as tx:
        backend.delete_user(tx, "id-keep")
        backend.delete_group(tx, "g-keep")
        raise RuntimeError("a later step of the request failed")
    with db.transaction() as tx:
        assert backend.find_user(tx, "keep", "default").id == "id-keep"
        assert backend.check_password(tx, "id-keep", "pw")
        assert backend.get_group(tx, "g-keep").name == "keep"


#: Names that would widen an unescaped LDAP filter or change an unescaped DN.
EVIL_NAMES = ["*)(uid=*", "admin)(|(uid=*", "*", "\\", "a\\2a", ",ou=people", "x,dc=labs",
              "cn=admin", "(objectClass=*)", "a)(&", "#lead", " spaced ", 'quo"te', "semi;colon"]


@pytest.mark.parametrize("name", EVIL_NAMES)
def test_names_are_stored_literally_and_never_widen_a_search(
        backend: IdentityBackend, tx: Session, name: str) -> None:
    backend.create_user(tx, user("ann"), "pw")
    backend.create_group(tx, GroupRecord(id="g-devs", name="devs", domain_id="default"))
    # a lookup by such a name finds nothing while others exist
    with pytest.raises(NotFound):
        backend.find_user(tx, name, "default")
    with pytest.raises(NotFound):
        backend.get_user(tx, name)
    with pytest.raises(NotFound):
        backend.get_group(tx, name)
    assert backend.list_users(tx, UserFilter(name=name)) == []
    assert backend.list_users(tx, UserFilter(ids=[name])) == []
    assert backend.list_groups(tx, name=name) == []
    assert backend.list_users(tx, UserFilter(domain_id=name)) == []
    # stored as given, found by exactly that name only
    made = backend.create_user(tx, user(name, id=f"id-{name}"), "pw2")
    backend.create_group(tx, GroupRecord(id=f"g-{name}", name=name, domain_id="default"))
    assert backend.find_user(tx, name, "default") == made
    assert backend.get_user(tx, f"id-{name}").name == name
    assert [u.name for u in backend.list_users(tx, UserFilter(name=name))] == [name]
    assert [g.id for g in backend.list_groups(tx, name=name)] == [f"g-{name}"]
    backend.add_user_to_group(tx, f"id-{name}", f"g-{name}")
    assert [u.id for u in backend.list_group_members(tx, f"g-{name}")] == [f"id-{name}"]
    assert backend.list_user_group_ids(tx, f"id-{name}") == [f"g-{name}"]
    assert backend.check_password(tx, f"id-{name}", "pw2")
    assert sorted(u.name for u in backend.list_users(tx, UserFilter())) == sorted(["ann", name])


def test_a_nul_in_a_name_finds_nothing(backend: IdentityBackend, tx: Session) -> None:
    backend.create_user(tx, user("ann"), None)
    for name in ("ann\x00", "\x00", "a\x00)(uid=*"):
        with pytest.raises(NotFound):
            backend.find_user(tx, name, "default")
        assert backend.list_users(tx, UserFilter(name=name)) == []
        assert backend.list_groups(tx, name=name) == []
