"""Which backend identity's wiring picks from ``[directory]``."""

from __future__ import annotations

from pathlib import Path

import pytest

from labs.common.config import Config, ConfigError
from labs.common.runner import Site
from labs.directory.slapd import DirectoryAddress
from labs.identity.backends.base import UserFilter
from labs.identity.backends.ldap import LdapIdentityBackend
from labs.identity.backends.sql import SqlIdentityBackend
from labs.wiring.identity import open_identity


def _site(tmp_path: Path, directory: dict[str, str]) -> Site:
    return Site(tmp_path, Config({"directory": directory}, environ={}))


def test_sql_when_asked(tmp_path: Path) -> None:
    identity = open_identity(_site(tmp_path, {"backend": "sql"}))
    assert isinstance(identity.backend, SqlIdentityBackend)
    identity.store.db.dispose()


def test_the_directory_of_url(tmp_path: Path, private_slapd: DirectoryAddress) -> None:
    identity = open_identity(_site(tmp_path, {
        "backend": "ldap", "url": private_slapd.url, "base_dn": private_slapd.base_dn,
        "bind_dn": private_slapd.admin_dn, "bind_password": private_slapd.admin_password}))
    try:
        assert isinstance(identity.backend, LdapIdentityBackend)
        identity.prepare()
        assert isinstance(identity.users.list_users(UserFilter(name="*")), list)
    finally:
        identity.backend.directory.close()
        identity.store.db.dispose()


def test_a_private_directory_that_does_not_run_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not running"):
        open_identity(_site(tmp_path, {"backend": "ldap"}))
