"""Shared by the DNS tests: running the `dig` client against a server on loopback."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

import pytest

DIG_TIMEOUT = 10.0  # seconds for one dig run, all its tries included

Dig = Callable[..., str]


@pytest.fixture(scope="session")
def dig_binary() -> str:
    path = shutil.which("dig")
    if path is None:
        pytest.fail("dig is needed for the DNS tests: apt-get install bind9-dnsutils")
    return path


@pytest.fixture
def dig(dig_binary: str) -> Dig:
    """`dig(port, *args)`: dig's standard output for a query to 127.0.0.1 on `port`."""

    def run(port: int, *args: str) -> str:
        result = subprocess.run(
            [dig_binary, "@127.0.0.1", "-p", str(port), "+time=2", "+tries=1", *args],
            capture_output=True, text=True, timeout=DIG_TIMEOUT, check=False)
        assert result.returncode == 0, f"dig {' '.join(args)} failed: {result.stderr}"
        return result.stdout

    return run
