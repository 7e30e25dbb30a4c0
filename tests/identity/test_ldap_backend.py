"""The LDAP backend beyond the contract: POSIX entries, ssh keys, passwords another LDAP
client checks, and listings of a large directory."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from labs.common.db import Database, upgrade
from labs.common.errors import BadRequest, Conflict, NotFound
from labs.directory.connection import Directory
from labs.directory.slapd import DirectoryAddress, PrivateSlapd
from labs.identity import models
from labs.identity.backends.base import PosixIdentity, UserFilter, UserRecord
from labs.identity.backends.ldap import LdapIdentityBackend

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5IGZvciBsYWJzIGxkYXAgYmFja2VuZA ann@x"


@pytest.fixture
def tx(tmp_path: Path) -> Iterator[Session]:
    db = Database(f"sqlite:///{tmp_path / 'labs.db'}")
    upgrade(db, "identity")
    with db.transaction() as session:
        session.add(models.Domain(id="default", name="Default"))
        session.flush()
        yield session
    db.dispose()


@pytest.fixture
def backend(ldap_directory: Directory) -> LdapIdentityBackend:
    return LdapIdentityBackend(ldap_directory, password_hash_rounds=4)


def person(name: str, shell: str, number: int = 5000) -> UserRecord:
    return UserRecord(id=f"id-{shell}", name=name, domain_id="default",
                      posix=PosixIdentity(shell, number, number, f"/home/{shell}"))


def test_a_user_is_a_posix_account_with_keys(backend: LdapIdentityBackend,
                                             ldap_directory: Directory, tx: Session) -> None:
    made = backend.create_user(tx, person("Ann Example", "ann"), "pw")
    entry = ldap_directory.read(f"uid=ann,ou=people,{ldap_directory.base_dn}", ["*"])
    assert entry is not None
    assert set(entry.attributes["objectclass"]) >= {
        "inetOrgPerson", "posixAccount", "shadowAccount", "ldapPublicKey"}
    assert entry.first("cn") == entry.first("sn") == "Ann Example"
    assert (entry.first("uidNumber"), entry.first("homeDirectory"),
            entry.first("loginShell")) == ("5000", "/home/ann", "/bin/bash")
    assert backend.find_user_by_shell_name(tx, "ann") == made == backend.get_user(tx, "id-ann")
    with pytest.raises(NotFound):
        backend.find_user_by_shell_name(tx, "*")
    backend.add_ssh_key(tx, "id-ann", KEY)
    with pytest.raises(Conflict):
        backend.add_ssh_key(tx, "id-ann", KEY)
    assert backend.list_ssh_keys(tx, "id-ann") == [KEY]
    assert backend.ssh_keys_of(tx, ["id-ann", "nobody", "*"]) == {"id-ann": [KEY]}
    backend.remove_ssh_key(tx, "id-ann", KEY)
    with pytest.raises(NotFound):
        backend.remove_ssh_key(tx, "id-ann", KEY)
    assert backend.list_ssh_keys(tx, "id-ann") == []


def test_a_user_needs_a_good_posix_identity(backend: LdapIdentityBackend, tx: Session) -> None:
    with pytest.raises(BadRequest, match="POSIX identity"):
        backend.create_user(tx, UserRecord(id="x", name="x", domain_id="default"), None)
    for shell in ("Ann", "a b", "*)(uid=*", "a,ou=people", ""):
        with pytest.raises(BadRequest, match="shell name"):
            backend.create_user(tx, person("x", shell), None)
    backend.create_user(tx, person("ann", "ann"), None)
    with pytest.raises(Conflict, match="shell name"):
        backend.create_user(tx, UserRecord(id="id-2", name="other", domain_id="default",
                                           posix=PosixIdentity("ann", 1, 1, "/home/ann")), None)


def _whoami(address: DirectoryAddress, dn: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ldapwhoami", "-x", "-H", address.url, "-D", dn, "-w", password],
                          capture_output=True, text=True, timeout=30, check=False)


def test_another_ldap_client_checks_the_password(ldap_directory: Directory,
                                                 private_slapd: DirectoryAddress,
                                                 tx: Session) -> None:
    backend = LdapIdentityBackend(ldap_directory, password_hash_rounds=12)
    backend.create_user(tx, person("ann", "ann"), "s3cret (with spaces)")
    dn = f"uid=ann,ou=people,{ldap_directory.base_dn}"
    stored = ldap_directory.read(dn, ["userPassword"])
    assert stored is not None
    assert (stored.first("userPassword") or "").startswith("{CRYPT}$2b$12$")  # identity's cost
    assert _whoami(private_slapd, dn, "s3cret (with spaces)").stdout.strip() == f"dn:{dn}"
    refused = _whoami(private_slapd, dn, "wrong")
    assert refused.returncode == 49, refused.stderr  # invalidCredentials
    backend.set_password(tx, "id-ann", "changed")
    assert _whoami(private_slapd, dn, "changed").returncode == 0
    assert _whoami(private_slapd, dn, "s3cret (with spaces)").returncode == 49


USERS = 10_000


def test_listing_ten_thousand_users(tmp_path: Path, tx: Session) -> None:
    """10,000 people loaded with slapadd into a slapd of its own, listed through the
    backend: every one, in pages (the time is printed; bench/ measures it)."""
    server = PrivateSlapd(tmp_path / "slapd")
    address = server.start()
    server.stop()
    ldif = tmp_path / "people.ldif"
    with ldif.open("w") as f:
        for n in range(USERS):
            f.write(f"dn: uid=u{n},ou=people,{address.base_dn}\nobjectClass: inetOrgPerson\n"
                    "objectClass: posixAccount\nobjectClass: shadowAccount\n"
                    f"objectClass: ldapPublicKey\nobjectClass: labsUser\nuid: u{n}\n"
                    f"cn: user {n:05d}\nsn: user {n:05d}\nuidNumber: {100000 + n}\n"
                    f"gidNumber: {100000 + n}\nhomeDirectory: /home/u{n}\n"
                    f"loginShell: /bin/bash\nlabsId: id-{n}\nlabsDomainId: default\n"
                    "labsEnabled: TRUE\n\n")
    started = time.monotonic()
    subprocess.run(["/usr/sbin/slapadd", "-q", "-f", str(tmp_path / "slapd" / "slapd.conf"),
                    "-l", str(ldif)], capture_output=True, text=True, timeout=600, check=True)
    loaded = time.monotonic() - started
    address = server.start()
    directory = Directory(address.url, address.admin_dn, address.admin_password,
                          address.base_dn)
    try:
        backend = LdapIdentityBackend(directory, password_hash_rounds=4)
        started = time.monotonic()
        users = backend.list_users(tx, UserFilter())
        listed = time.monotonic() - started
        print(f"\n{USERS} users: slapadd {loaded:.1f} s, listed through the backend in "
              f"{listed:.2f} s (pages of {directory.page_size})")
        assert len(users) == USERS
        assert [u.name for u in users[:2]] == ["user 00000", "user 00001"]
        assert {u.id for u in users} == {f"id-{n}" for n in range(USERS)}
        started = time.monotonic()
        some = backend.list_users(tx, UserFilter(ids=[f"id-{n}" for n in range(0, USERS, 7)]))
        print(f"{len(some)} of them by id in {time.monotonic() - started:.2f} s")
        assert len(some) == len(range(0, USERS, 7))
    finally:
        directory.close()
        server.stop()


def test_a_new_login_shell_but_never_a_new_shell_name(backend: LdapIdentityBackend,
                                                      tx: Session) -> None:
    made = backend.create_user(tx, person("carl", "carl", 10002), None)
    assert made.posix is not None
    zsh = PosixIdentity("carl", 10002, 10002, "/home/carl", "/bin/zsh")
    assert backend.update_user(tx, made.id, {"posix": zsh}).posix == zsh
    with pytest.raises(BadRequest, match="shell_name"):
        backend.update_user(tx, made.id, {"posix": PosixIdentity("karl", 10002, 10002,
                                                                 "/home/karl")})
    assert backend.get_user(tx, made.id).posix == zsh


def test_the_sql_anchor_keeps_names_unique_when_the_directory_check_is_passed(
        backend: LdapIdentityBackend, tx: Session) -> None:
    """Two creations of one name at once both pass the directory's search; the anchor
    row's unique (domain, name) stops the second, and follows renames."""
    first = backend.create_user(tx, person("Race", "race1", 5101), None)
    entry = backend.directory.search(backend.people, "(uid=race1)", ["uid"])[0]
    backend.directory.delete(entry.dn)  # as if the second search ran before this add
    with pytest.raises(Conflict), tx.begin_nested():
        backend.create_user(tx, person("Race", "race2", 5102), None)
    assert tx.get(models.User, first.id).name == "Race"  # type: ignore[union-attr]
    other = backend.create_user(tx, person("Other", "other1", 5103), None)
    backend.update_user(tx, other.id, {"name": "Renamed"})
    assert tx.get(models.User, other.id).name == "Renamed"  # type: ignore[union-attr]
