"""A private slapd for the tests that need a real OpenLDAP directory.

Tests elsewhere use it with ``from tests.directory.conftest import private_slapd``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labs.directory.slapd import DirectoryAddress, PrivateSlapd, slapd_installed


@pytest.fixture(scope="session")
def private_slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DirectoryAddress]:
    """slapd in a directory of its own for the whole session (base ``dc=labs,dc=local``
    with ``ou=people``, ``ou=groups``, ``ou=projects``): where it answers and the admin's
    and the reader's binds."""
    if not slapd_installed():
        pytest.fail("slapd is needed for the directory tests: apt-get install slapd "
                    "ldap-utils (./run test installs them)")
    server = PrivateSlapd(tmp_path_factory.mktemp("slapd"))
    address = server.start()
    try:
        yield address
    finally:
        server.stop()
