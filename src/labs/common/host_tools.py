"""Host programs a Labs process runs (mtools, qemu-img, cpio ...): found on the path
with the sbin directories added, run with a bound on time, and every failure turned into
the caller's own error, saying which step failed and what the program said."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path


def find_host_tool(name: str, package: str, error: type[Exception]) -> str:
    """The program's path, or `error` naming the Debian package that has it."""
    path = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
    found = shutil.which(name, path=path)
    if found is None:
        raise error(f"{name} is missing: install the Debian package {package} "
                    f"(apt-get install {package})")
    return found


def run_host_tool(cmd: Sequence[str], what: str, error: type[Exception], *,
                  timeout: float, cwd: Path | None = None,
                  env: dict[str, str] | None = None) -> str:
    """Run the program; its output, or `error` saying `what` failed and why."""
    try:
        done = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise error(f"{what} failed: no answer within {timeout:.0f} s") from exc
    except OSError as exc:
        raise error(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip())[-2000:]
        raise error(f"{what} failed (exit {done.returncode}): {detail}")
    return done.stdout
