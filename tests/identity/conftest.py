"""Identity over the directory: a subtree of the session's slapd per test.

``LABS_TEST_IDENTITY_BACKEND=ldap`` runs the identity suites (``identity`` and
``cloud``) with users and groups in the directory instead of SQL.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.directory.connection import Directory
from labs.directory.slapd import DirectoryAddress
from labs.identity.backends.base import PosixIdentity, UserRecord
from labs.identity.backends.ldap import LdapIdentityBackend
from labs.identity.bootstrap import bootstrap
from labs.identity.config import IdentityOptions
from labs.identity.service import IdentityService
from tests.conftest import ADMIN_PASSWORD, TEST_ROUNDS
from tests.directory.conftest import private_slapd

__all__ = ["private_slapd"]

BACKEND = os.environ.get("LABS_TEST_IDENTITY_BACKEND", "sql")


def subtree_directory(address: DirectoryAddress) -> Directory:
    """The directory, based at a new ``ou`` of its own: each test starts empty."""
    name = f"t{uuid.uuid4().hex[:12]}"
    base = f"ou={name},{address.base_dn}"
    directory = Directory(address.url, address.admin_dn, address.admin_password, base,
                          timeout=30.0)
    directory.add(base, {"objectClass": ["organizationalUnit"], "ou": name})
    return directory


@pytest.fixture
def ldap_directory(private_slapd: DirectoryAddress) -> Iterator[Directory]:
    directory = subtree_directory(private_slapd)
    yield directory
    directory.close()


class ShellNamedBackend(LdapIdentityBackend):
    """Gives a user created without a POSIX identity one (``u<n>``), as the identity
    service does once it allocates them; the API suites then run unchanged."""

    _numbers = itertools.count(10000)

    def create_user(self, tx: Session, user: UserRecord, password: str | None) -> UserRecord:
        if user.posix is None:
            number = next(self._numbers)
            user = replace(user, posix=PosixIdentity(f"u{number}", number, number,
                                                     f"/home/u{number}"))
        return super().create_user(tx, user, password)


@pytest.fixture
def identity(db_url: str, tmp_path: Path,
             request: pytest.FixtureRequest) -> Iterator[IdentityService]:
    """The identity service, over SQL or (``LABS_TEST_IDENTITY_BACKEND=ldap``) LDAP."""
    from labs.wiring.identity import new_identity

    options = IdentityOptions(password_hash_rounds=TEST_ROUNDS)
    directory = None
    if BACKEND == "ldap":
        directory = subtree_directory(request.getfixturevalue("private_slapd"))
        service = IdentityService(Database(db_url), options, tmp_path,
                                  ShellNamedBackend(directory, TEST_ROUNDS))
    else:
        service = new_identity(Database(db_url), options, tmp_path)
    service.prepare()
    bootstrap(service, "http://testserver", tmp_path, admin_password=ADMIN_PASSWORD)
    yield service
    service.store.db.dispose()
    if directory is not None:
        directory.close()
