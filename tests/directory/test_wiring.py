"""What ``[directory]`` makes of a Labs process's directory: the private slapd in the
data dir, an existing directory, or SQL; what `labs status` says of each, and `labs down`
ending a slapd left running."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from labs.common.config import Config, ConfigError
from labs.common.runner import Site
from labs.directory.slapd import DirectoryAddress
from labs.wiring import directory as wiring
from labs.wiring.directory import (
    directory_address,
    directory_status,
    start_directory,
    stop_private_slapd,
)


def site_of(data_dir: Path, **directory: str) -> Site:
    data_dir.mkdir(parents=True, exist_ok=True)
    return Site(data_dir, Config({"directory": directory}, environ={}))


def test_labs_runs_a_private_slapd_in_its_data_dir(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    site = site_of(tmp_path / "data", base_dn="dc=example,dc=org")
    assert directory_address(site) is None  # nothing runs yet
    lines, problems = directory_status(site, up=False)
    assert "not running (labs up starts it)" in lines[0] and not problems
    with caplog.at_level(logging.INFO, "labs.directory"):
        running = start_directory(site)
    try:
        a = running.address
        assert a is not None and a.base_dn == "dc=example,dc=org"
        assert directory_address(site) == a  # what identity's wiring reads
        assert f"directory: the private slapd answers on {a.url} and {a.ldapi_url} " \
               f"(base dc=example,dc=org)" in caplog.text
        password_file = tmp_path / "data" / "directory" / "reader.password"
        assert str(password_file) in caplog.text
        # the operators' tool, as the log says: -D reader -y its password file
        found = subprocess.run(["ldapsearch", "-x", "-LLL", "-H", a.url, "-D", a.reader_dn,
                                "-y", str(password_file), "-b", f"ou=people,{a.base_dn}",
                                "-s", "base", "dn"], capture_output=True, text=True,
                               timeout=20, check=False)
        assert found.returncode == 0 and f"ou=people,{a.base_dn}" in found.stdout, found
        lines, problems = directory_status(site, up=True)
        assert lines[0].startswith(f"directory: {a.url} (base dc=example,dc=org), the "
                                   "private slapd (pid ")
        assert f"read-only bind {a.reader_dn}, its password in {password_file}" in lines[1]
        assert lines[2] == f"  answers: yes, bound as {a.reader_dn} and read {a.base_dn}"
        assert not problems
        # a slapd left running without labs up is a problem that labs down fixes
        _, problems = directory_status(site, up=False)
        assert problems and "labs down --data-dir" in problems[0]
        pid = stop_private_slapd(site)
        assert pid is not None and directory_address(site) is None
        assert stop_private_slapd(site) is None
    finally:
        running.stop()


def test_an_existing_directory(private_slapd: DirectoryAddress, tmp_path: Path,
                               caplog: pytest.LogCaptureFixture) -> None:
    a = private_slapd
    (tmp_path / "bind").write_text(a.admin_password + "\n")
    (tmp_path / "read").write_text(a.reader_password)
    site = site_of(tmp_path / "data", url=a.url, base_dn=a.base_dn, bind_dn=a.admin_dn,
                   bind_password_file=str(tmp_path / "bind"), reader_dn=a.reader_dn,
                   reader_password_file=str(tmp_path / "read"))
    with caplog.at_level(logging.INFO, "labs.directory"):
        running = start_directory(site)
    assert running.server is None  # Labs starts nothing for it
    assert running.address == directory_address(site) == DirectoryAddress(
        a.url, "", a.base_dn, a.admin_dn, a.admin_password, a.reader_dn, a.reader_password)
    assert f"directory: {a.url} (base {a.base_dn}), an existing directory" in caplog.text
    assert "it answers" in caplog.text
    lines, problems = directory_status(site, up=True)
    assert "answers: yes" in lines[2] and not problems
    assert not (tmp_path / "data" / "directory").exists()


def test_an_existing_directory_that_refuses_the_bind(
        private_slapd: DirectoryAddress, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    a = private_slapd
    site = site_of(tmp_path / "data", url=a.url, base_dn=a.base_dn, bind_dn=a.reader_dn,
                   bind_password="wrong")
    with caplog.at_level(logging.INFO, "labs.directory"):
        start_directory(site)
    assert "it does not answer: ldap_bind: Invalid credentials (49)" in caplog.text
    lines, problems = directory_status(site, up=True)
    assert lines[2].startswith("  answers: no: ldap_bind: Invalid credentials (49)")
    assert problems == [f"the directory at {a.url} does not answer: "
                        "ldap_bind: Invalid credentials (49)"]


def test_sql_when_asked(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    site = site_of(tmp_path / "data", backend="sql")
    with caplog.at_level(logging.INFO, "labs.directory"):
        assert start_directory(site).address is None
    assert "directory: none, the accounts are kept in SQL ([directory] backend = sql)" \
        in caplog.text
    assert directory_address(site) is None
    assert directory_status(site, up=True) == (
        ["directory: none, the accounts are kept in SQL ([directory] backend = sql)"], [])


def test_sql_without_slapd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           caplog: pytest.LogCaptureFixture) -> None:
    """A host without slapd: auto keeps the accounts in SQL and says so; ldap refuses."""
    monkeypatch.setattr(wiring, "slapd_installed", lambda: False)
    with caplog.at_level(logging.INFO, "labs.directory"):
        assert start_directory(site_of(tmp_path / "a")).address is None
    assert "the accounts are kept in SQL (slapd is not installed: apt-get install slapd" \
        in caplog.text
    with pytest.raises(ConfigError, match="backend = ldap needs"):
        start_directory(site_of(tmp_path / "b", backend="ldap"))


@pytest.mark.parametrize(("options", "message"), [
    ({"backend": "mysql"}, "use auto, ldap, sql"),
    ({"url": "ldap://127.0.0.1:1"}, "needs bind_dn"),
    ({"url": "ldap://127.0.0.1:1", "bind_dn": "cn=x", "bind_password_file": "/nonexistent"},
     "bind_password_file = /nonexistent: No such file"),
    ({"url": "ldap://127.0.0.1:1", "bind_dn": "cn=x", "bind_password": "x",
      "reader_dn": "cn=r"}, "reader_dn needs reader_password_file"),
])
def test_bad_options(tmp_path: Path, options: dict[str, str], message: str) -> None:
    site = site_of(tmp_path / "data", **options)
    with pytest.raises(ConfigError, match=message):
        start_directory(site)
    lines, problems = directory_status(site, up=True)
    assert message.split(":")[0] in lines[0] and problems
