"""The private slapd: it starts, keeps its data across restarts, and its rules hold
(the reader reads, never writes; anonymous clients only bind; passwords serve only to
bind, bcrypt ``{CRYPT}`` hashes included). Checked with the OpenLDAP tools."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import bcrypt
import pytest

from labs.directory.slapd import DirectoryAddress, PrivateSlapd, SlapdError

TIMEOUT = 20


def ldap(tool: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool, "-x", *args], input=stdin, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


def as_reader(a: DirectoryAddress) -> tuple[str, ...]:
    return ("-H", a.url, "-D", a.reader_dn, "-w", a.reader_password)


def as_admin(a: DirectoryAddress) -> tuple[str, ...]:
    return ("-H", a.url, "-D", a.admin_dn, "-w", a.admin_password)


def add_person(a: DirectoryAddress, password_hash: str) -> str:
    name = f"u{uuid.uuid4().hex[:10]}"
    dn = f"uid={name},ou=people,{a.base_dn}"
    ldif = (f"dn: {dn}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n"
            f"objectClass: shadowAccount\nobjectClass: ldapPublicKey\nuid: {name}\n"
            f"cn: {name}\nsn: {name}\nuidNumber: 5001\ngidNumber: 5001\n"
            f"homeDirectory: /home/{name}\nloginShell: /bin/bash\n"
            f"sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample {name}\n"
            f"userPassword: {password_hash}\n")
    done = ldap("ldapadd", *as_admin(a), stdin=ldif)
    assert done.returncode == 0, done.stderr
    return dn


def test_the_reader_lists_the_units(private_slapd: DirectoryAddress) -> None:
    a = private_slapd
    assert a.url.startswith("ldap://127.0.0.1:")
    assert a.ldapi_url.startswith("ldapi://%2F")
    found = ldap("ldapsearch", *as_reader(a), "-LLL", "-b", a.base_dn, "-s", "one", "dn")
    assert found.returncode == 0, found.stderr
    for unit in ("people", "groups", "projects"):
        assert f"dn: ou={unit},{a.base_dn}" in found.stdout


def test_the_reader_cannot_write(private_slapd: DirectoryAddress) -> None:
    a = private_slapd
    ldif = f"dn: ou=intruders,{a.base_dn}\nobjectClass: organizationalUnit\nou: intruders\n"
    done = ldap("ldapadd", *as_reader(a), stdin=ldif)
    assert done.returncode == 50, done  # insufficient access
    change = f"dn: ou=people,{a.base_dn}\nchangetype: modify\nreplace: description\n" \
             "description: defaced\n"
    assert ldap("ldapmodify", *as_reader(a), stdin=change).returncode == 50


def test_anonymous_clients_read_nothing(private_slapd: DirectoryAddress) -> None:
    a = private_slapd
    found = ldap("ldapsearch", "-H", a.url, "-LLL", "-b", a.base_dn, "dn")
    assert "dn:" not in found.stdout
    assert found.returncode in (32, 50), found  # no such object / insufficient access


def test_passwords_serve_only_to_bind(private_slapd: DirectoryAddress) -> None:
    a = private_slapd
    dn = add_person(a, "{CRYPT}" + bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode())
    found = ldap("ldapsearch", *as_reader(a), "-LLL", "-b", dn, "-s", "base", "*")
    assert found.returncode == 0, found.stderr
    assert "uidNumber: 5001" in found.stdout and "sshPublicKey:" in found.stdout
    assert "userPassword" not in found.stdout


def test_a_bcrypt_crypt_password_binds(private_slapd: DirectoryAddress) -> None:
    a = private_slapd
    hashed = bcrypt.hashpw(b"s3cret words", bcrypt.gensalt(4)).decode()
    assert hashed.startswith("$2b$")
    dn = add_person(a, "{CRYPT}" + hashed)
    ok = ldap("ldapwhoami", "-H", a.url, "-D", dn, "-w", "s3cret words")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"dn:{dn}"
    wrong = ldap("ldapwhoami", "-H", a.url, "-D", dn, "-w", "s3cret word")
    assert wrong.returncode == 49, wrong  # invalid credentials


def test_a_user_changes_their_password_to_a_bcrypt_hash(
        private_slapd: DirectoryAddress) -> None:
    """The password modify operation stores ``{CRYPT}$2b$12$``, at identity's cost."""
    a = private_slapd
    dn = add_person(a, "{CRYPT}" + bcrypt.hashpw(b"old", bcrypt.gensalt(4)).decode())
    done = ldap("ldappasswd", "-H", a.url, "-D", dn, "-w", "old", "-s", "new one")
    assert done.returncode == 0, done.stderr
    assert ldap("ldapwhoami", "-H", a.url, "-D", dn, "-w", "new one").returncode == 0
    assert ldap("ldapwhoami", "-H", a.url, "-D", dn, "-w", "old").returncode == 49
    stored = ldap("ldapsearch", *as_admin(a), "-LLL", "-o", "ldif_wrap=no", "-b", dn,
                  "-s", "base", "userPassword")
    assert "userPassword:: " in stored.stdout  # base64 of {CRYPT}$2b$12$...
    value = stored.stdout.split("userPassword:: ", 1)[1].split("\n", 1)[0]
    assert base64.b64decode(value).startswith(b"{CRYPT}$2b$12$")


def test_restarts_keep_the_data_the_port_and_the_passwords(tmp_path: Path) -> None:
    server = PrivateSlapd(tmp_path / "d", base_dn="dc=example,dc=org")
    first = server.start()
    try:
        assert PrivateSlapd(tmp_path / "d", base_dn="dc=example,dc=org").start() == first
        dn = add_person(first, "{CRYPT}" + bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode())
    finally:
        server.stop()
    assert ldap("ldapwhoami", "-H", first.url, "-D", dn, "-w", "pw").returncode != 0
    for name in ("admin.password", "reader.password", "slapd.conf"):
        assert (tmp_path / "d" / name).stat().st_mode & 0o777 == 0o600
    again = PrivateSlapd(tmp_path / "d", base_dn="dc=example,dc=org")
    second = again.start()
    try:
        assert second == first
        assert ldap("ldapwhoami", "-H", second.url, "-D", dn, "-w", "pw").returncode == 0
        with pytest.raises(SlapdError, match="holds dc=example,dc=org"):
            PrivateSlapd(tmp_path / "d", base_dn="dc=other").start()
    finally:
        again.stop()
    again.stop()  # stopping what does not run does nothing


def test_the_owner_is_the_admin_over_the_unix_socket(private_slapd: DirectoryAddress
                                                     ) -> None:
    done = subprocess.run(["ldapwhoami", "-Y", "EXTERNAL", "-H", private_slapd.ldapi_url],
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"dn:{private_slapd.admin_dn}"


def test_a_broken_database_fails_with_slapds_words(tmp_path: Path) -> None:
    server = PrivateSlapd(tmp_path / "d")
    server.start()
    server.stop()
    with (tmp_path / "d" / "db" / "data.mdb").open("r+b") as f:
        f.write(os.urandom(8192))
    with pytest.raises(SlapdError, match=r"slapd did not start: .*mdb"):
        server.start(timeout=10)
    assert server._pid() is None


def test_a_base_dn_it_cannot_make(tmp_path: Path) -> None:
    with pytest.raises(SlapdError, match="base DN"):
        PrivateSlapd(tmp_path / "d", base_dn="cn=nothing").start()


def test_slapd_ends_with_the_process_that_started_it(tmp_path: Path) -> None:
    """A killed `labs up` (or test run) leaves no slapd behind."""
    script = ("import sys, time; from pathlib import Path; "
              "from labs.directory.slapd import PrivateSlapd; "
              "s = PrivateSlapd(Path(sys.argv[1])); s.start(); "
              "print(s.pid(), flush=True); time.sleep(60)")
    starter = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "d")],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert starter.stdout is not None
        pid = int(starter.stdout.readline())
        os.kill(pid, 0)  # it runs
    finally:
        starter.kill()
        starter.wait(10)
        if starter.stdout is not None:
            starter.stdout.close()
    deadline = time.monotonic() + 10
    while PrivateSlapd(tmp_path / "d").pid() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert PrivateSlapd(tmp_path / "d").pid() is None
