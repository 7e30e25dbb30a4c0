"""The identity backend contract, posix accounts and ssh keys: every implementation runs
this suite too: the fixtures ``backend`` and ``tx`` are the main contract suite's."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from labs.common.errors import BadRequest, Conflict, NotFound
from labs.identity.backends.base import IdentityBackend, PosixIdentity, UserFilter
from labs.identity.backends.ldap import LdapIdentityBackend
from tests.accounts.keys_helpers import ed25519_public, rsa_public
from tests.identity import test_backend_contract as contract
from tests.identity.test_backend_contract import user

#: The main suite's fixtures: every backend it runs, over both engines.
backend = contract.backend
db = contract.db
tx = contract.tx


def holds_only_accounts(backend: IdentityBackend) -> bool:
    """The directory holds every person as a posixAccount: a user without one is a 400."""
    return isinstance(backend, LdapIdentityBackend)


def posix(shell: str, uid: int) -> PosixIdentity:
    return PosixIdentity(shell_name=shell, uid_number=uid, gid_number=uid,
                         home_directory=f"/home/{shell}")


def test_users_carry_their_posix_account(backend: IdentityBackend, tx: Session) -> None:
    made = backend.create_user(tx, user("Ann Lee", posix=posix("ann-lee", 10001)), "pw")
    assert made.posix == posix("ann-lee", 10001)
    assert made.posix.login_shell == "/bin/bash"
    assert backend.get_user(tx, made.id).posix == made.posix
    assert backend.find_user(tx, "Ann Lee", "default").posix == made.posix
    assert [u.posix for u in backend.list_users(tx, UserFilter())] == [made.posix]
    assert backend.find_user_by_shell_name(tx, "ann-lee").id == made.id
    with pytest.raises(NotFound):
        backend.find_user_by_shell_name(tx, "nobody")
    with pytest.raises(NotFound):
        backend.find_user_by_shell_name(tx, "*")
    if holds_only_accounts(backend):
        with pytest.raises(BadRequest):
            backend.create_user(tx, user("bob", posix=None), None)
    else:
        plain = backend.create_user(tx, user("bob", posix=None), None)
        assert plain.posix is None


def test_a_first_account_and_a_new_login_shell(backend: IdentityBackend, tx: Session) -> None:
    if holds_only_accounts(backend):
        made = backend.create_user(tx, user("carl", posix=posix("carl", 10002)), None)
    else:
        made = backend.create_user(tx, user("carl", posix=None), None)
        given = backend.update_user(tx, made.id, {"posix": posix("carl", 10002)})
        assert given.posix == posix("carl", 10002)
    zsh = PosixIdentity("carl", 10002, 10002, "/home/carl", "/bin/zsh")
    assert backend.update_user(tx, made.id, {"posix": zsh}).posix == zsh
    with pytest.raises(BadRequest):
        backend.update_user(tx, made.id, {"posix": posix("karl", 10002)})
    assert backend.get_user(tx, made.id).posix == zsh


def test_ssh_keys(backend: IdentityBackend, tx: Session) -> None:
    ann = backend.create_user(tx, user("ann", posix=posix("ann", 10003)), None).id
    bob = backend.create_user(tx, user("bob", posix=posix("bob", 10004)), None).id
    one, two = ed25519_public(), rsa_public(2048)
    assert backend.list_ssh_keys(tx, ann) == []
    backend.add_ssh_key(tx, ann, one)
    backend.add_ssh_key(tx, ann, two)
    with pytest.raises(Conflict):
        backend.add_ssh_key(tx, ann, one)
    assert sorted(backend.list_ssh_keys(tx, ann)) == sorted([one, two])
    backend.add_ssh_key(tx, bob, one)  # the same key on two accounts is allowed
    keys = backend.ssh_keys_of(tx, [ann, bob, "id-nobody"])
    assert sorted(keys[ann]) == sorted([one, two]) and keys[bob] == [one]
    assert keys.get("id-nobody", []) == []
    backend.remove_ssh_key(tx, ann, one)
    assert backend.list_ssh_keys(tx, ann) == [two]
    with pytest.raises(NotFound):
        backend.remove_ssh_key(tx, ann, one)
    with pytest.raises(NotFound):
        backend.list_ssh_keys(tx, "id-nobody")
    backend.delete_user(tx, bob)
    assert backend.ssh_keys_of(tx, [bob]).get(bob, []) == []
