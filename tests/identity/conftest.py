"""Identity over the directory: a subtree of the session's slapd per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from labs.directory.connection import Directory
from labs.directory.slapd import DirectoryAddress


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
