"""The image build's host programs and its steps: each step a program run to completion,
its failure an ImageBuildError that says which step and why."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

#: Host programs the build runs, and the Debian package of each.
TOOLS = {"apt-get": "apt", "apt-cache": "apt", "dpkg-deb": "dpkg", "mkfs.vfat": "dosfstools",
         "mcopy": "mtools", "syslinux": "syslinux", "qemu-img": "qemu-utils"}
TIMEOUT_DOWNLOAD = 900.0
TIMEOUT_STEP = 300.0


class ImageBuildError(Exception):
    """The build failed; the message says which step and why."""


def run_step(cmd: Sequence[str], what: str, *, cwd: Path | None = None,
             env: dict[str, str] | None = None, timeout: float = TIMEOUT_STEP) -> str:
    try:
        done = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ImageBuildError(f"{what} failed: no answer within {timeout:.0f} s") from exc
    except OSError as exc:
        raise ImageBuildError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip())[-2000:]
        raise ImageBuildError(f"{what} failed (exit {done.returncode}): {detail}")
    return done.stdout


def find_tool(name: str, package: str) -> str:
    path = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
    found = shutil.which(name, path=path)
    if found is None:
        raise ImageBuildError(f"{name} is missing: install the Debian package {package} "
                              f"(apt-get install {package})")
    return found


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
