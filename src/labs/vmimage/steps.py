"""The image build's host programs and its steps: each step a program run to completion,
its failure an ImageBuildError that says which step and why."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from labs.common.host_tools import find_host_tool, run_host_tool

#: Host programs the build runs, and the Debian package of each.
TOOLS = {"apt-get": "apt", "apt-cache": "apt", "dpkg-deb": "dpkg", "mkfs.vfat": "dosfstools",
         "mcopy": "mtools", "syslinux": "syslinux", "qemu-img": "qemu-utils"}
TIMEOUT_DOWNLOAD = 900.0
TIMEOUT_STEP = 300.0


class ImageBuildError(Exception):
    """The build failed; the message says which step and why."""


def run_step(cmd: Sequence[str], what: str, *, cwd: Path | None = None,
             env: dict[str, str] | None = None, timeout: float = TIMEOUT_STEP) -> str:
    return run_host_tool(cmd, what, ImageBuildError, timeout=timeout, cwd=cwd, env=env)


def find_tool(name: str, package: str) -> str:
    return find_host_tool(name, package, ImageBuildError)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
