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
#: For a copy (``convert``): its worker threads each reserve a stack and a malloc arena,
#: and under load 1 GiB left no room for one more ("qemu_thread_create: Resource
#: temporarily unavailable"). Still a bound, far above what a copy needs.
COPY_ADDRESS_SPACE = 8 << 30


def limited(cmd: list[str], cpu_seconds: int = CPU_SECONDS,
            address_space: int = ADDRESS_SPACE) -> list[str]:
    """`cmd` run under prlimit with the limits above (`cpu_seconds` for long copies,
    `address_space` COPY_ADDRESS_SPACE for a convert)."""
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        raise FileNotFoundError("prlimit not found: install util-linux")
    return [prlimit, f"--as={address_space}", f"--cpu={cpu_seconds}", "--", *cmd]
