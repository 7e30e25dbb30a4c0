"""Every user's POSIX account: shell names given or derived, uids and gids never reused,
and accounts allocated at once by many sign-ups (MariaDB)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from labs.accounts.config import AccountsOptions
from labs.accounts.service import AccountsService, SignUp
from labs.common.db import Database
from labs.common.errors import BadRequest, Conflict
from labs.identity import models
from labs.identity.backends.base import UserFilter
from labs.identity.config import IdentityOptions
from labs.identity.posix import FIRST_UID, derive_shell_name
from labs.identity.service import IdentityService
from labs.wiring.identity import new_identity
from tests.accounts.keys_helpers import ed25519_public
from tests.conftest import TEST_ROUNDS


@pytest.fixture
def identity_backend_kind() -> str:
    """The ledger's tests keep users in SQL whatever the run says: an upgraded site with
    users made before accounts kept them there (the directory holds none without one)."""
    return "sql"



@pytest.mark.parametrize("login,shell", [
    ("alice", "alice"), ("Alice Smith", "alice-smith"), ("José.García", "jose-garcia"),
    ("42 Douglas", "douglas"), ("__init__", "init"), ("北京", "user"),
    ("o'brien; rm -rf /", "o-brien-rm-rf"), ("*)(uid=*))(|(uid=*", "uid-uid"),
    ("a" * 80, "a" * 28), ("Under_Score-Dash", "under_score-dash"),
    # a project's group is project-<label>: no account takes such a name
    ("Project Demo", "user-project-demo"), ("project-" + "x" * 40, "user-project-" + "x" * 15),
])
def test_shell_names_are_derived_from_login_names(login: str, shell: str) -> None:
    assert derive_shell_name(login) == shell


def test_derived_names_are_made_unique(identity: IdentityService) -> None:
    users = identity.users
    names = [users.create_user({"name": n}, "default").posix.shell_name  # type: ignore[union-attr]
             for n in ("Bob", "bob!", "bob?", "root")]
    assert names == ["bob", "bob1", "bob2", "root1"]


def test_a_project_group_s_name_is_no_shell_name(identity: IdentityService) -> None:
    with pytest.raises(Conflict, match="reserved"):
        identity.users.create_user({"name": "Mallory", "shell_name": "project-demo"},
                                   "default")


def test_a_given_shell_name_is_checked(identity: IdentityService) -> None:
    users = identity.users
    made = users.create_user({"name": "Carol", "shell_name": "cc"}, "default")
    assert made.posix is not None and made.posix.shell_name == "cc"
    for bad in ("Carol", "9c", "-c", "c c", "c;id", "c" * 33, "", "*)(uid=*", "c\n"):
        with pytest.raises(BadRequest):
            users.create_user({"name": f"x{len(bad)}{bad!r}", "shell_name": bad}, "default")
    for taken in ("cc", "root", "admin"):
        with pytest.raises(Conflict):
            users.create_user({"name": "someone", "shell_name": taken}, "default")
    # nothing half-made: the refused user does not exist
    assert not users.list_users(UserFilter(name="someone"))


def test_numbers_and_names_are_never_reused(identity: IdentityService) -> None:
    users = identity.users
    first = users.create_user({"name": "dave"}, "default").posix
    assert first is not None and first.uid_number == first.gid_number >= FIRST_UID
    users.delete_user(users.find_user_by_shell_name("dave").id)
    again = users.create_user({"name": "dave"}, "default").posix
    assert again is not None
    assert again.shell_name == "dave1" and again.uid_number > first.uid_number
    with pytest.raises(Conflict):
        users.create_user({"name": "dave-2", "shell_name": "dave"}, "default")
    with identity.store.read() as tx:
        tomb = tx.scalars(sa.select(models.PosixAllocation).where(
            models.PosixAllocation.shell_name == "dave")).one()
        assert tomb.released_at is not None


def test_users_made_before_accounts_get_one_at_start(identity: IdentityService) -> None:
    """An upgraded database: users without a ledger row get one from ``prepare``."""
    made = identity.users.create_user({"name": "Old Timer"}, "default")
    with identity.store.write() as tx:
        tx.execute(sa.delete(models.UserPosix))
        tx.execute(sa.delete(models.PosixAllocation))
    assert identity.users.get_user(made.id).posix is None
    identity.prepare()
    posix = identity.users.get_user(made.id).posix
    assert posix is not None and posix.shell_name == "old-timer"
    admin = identity.users.find_user_by_shell_name("admin")
    assert admin.name == "admin"
    identity.prepare()  # idempotent
    assert identity.users.get_user(made.id).posix == posix


def test_many_sign_ups_at_once_get_distinct_numbers(mariadb_url: str, tmp_path: Path) -> None:
    """100 sign-ups in parallel on MariaDB: 100 distinct uids and shell names, with
    colliding derived names among them."""
    identity = new_identity(Database(mariadb_url), IdentityOptions(
        password_hash_rounds=TEST_ROUNDS), tmp_path)
    identity.prepare()
    identity.resources.create_domain("Default", "", domain_id="default")
    accounts = AccountsService(identity, AccountsOptions(self_service=True))
    names = [f"Person {i}" for i in range(80)] + [f"twin{'!' * (i + 1)}" for i in range(20)]
    try:
        with ThreadPoolExecutor(max_workers=25) as pool:
            made = list(pool.map(lambda n: accounts.signup(SignUp(n, "pw")), names,
                                 timeout=300))
    finally:
        identity.store.db.dispose()
    posix = [u.posix for u in made if u.posix is not None]
    assert len(posix) == 100
    assert len({p.uid_number for p in posix}) == 100
    assert len({p.gid_number for p in posix}) == 100
    assert len({p.shell_name for p in posix}) == 100
    assert {p.shell_name for p in posix if p.shell_name.startswith("twin")} == {
        "twin", *(f"twin{i}" for i in range(1, 20))}


def test_the_key_bound_holds_under_concurrent_adds(identity: IdentityService) -> None:
    """Ten keys added to one account at once under a bound of three: exactly three."""
    accounts = AccountsService(identity, AccountsOptions(max_keys=3))
    user = identity.users.create_user({"name": "Keyholder"}, "default").id
    keys = [ed25519_public() for _ in range(10)]

    def add(key: str) -> str:
        try:
            accounts.add_key(user, key)
        except Conflict:
            return "refused"
        return "added"
    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(add, keys))
    assert outcomes.count("added") == 3, outcomes
    assert len(accounts.list_keys(user)) == 3
