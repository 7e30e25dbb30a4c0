"""Running qemu-img on image data a user sent.

The format is always given (`-f`), never probed: probing is how a raw image that looks
like a qcow2 gets qemu to follow its backing file. And the process is held to limits of
CPU time and address space, as Nova holds `qemu-img info` (prlimit --as=1GiB --cpu=30s
through oslo.concurrency), so a crafted image cannot make it run away.
"""

from __future__ import annotations

import shutil

#: Nova's QEMU_IMG_LIMITS.
ADDRESS_SPACE = 1 << 30
CPU_SECONDS = 30


def limited(cmd: list[str], cpu_seconds: int = CPU_SECONDS) -> list[str]:
    """`cmd` run under prlimit with the limits above (`cpu_seconds` for long copies)."""
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        raise FileNotFoundError("prlimit not found: install util-linux")
    return [prlimit, f"--as={ADDRESS_SPACE}", f"--cpu={cpu_seconds}", "--", *cmd]
