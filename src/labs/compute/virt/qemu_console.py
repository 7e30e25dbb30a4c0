"""The serial console of a qemu instance, bounded on disk and read from its end.

qemu writes the guest's serial output into a ring buffer of its own (``-chardev
ringbuf``): the guest never waits on it, it keeps working while the agent is away (the
ring then holds the newest output), and it never grows. The driver drains the ring into
``console.log``, which holds at most ``max_bytes`` and is rotated once into
``console.log.1`` when full (as virtlogd keeps Nova's console logs: a bounded file and
its predecessor). Console output reads only the tail it is asked for, block by block
from the end, so a full log costs no more to show than its last lines.
"""

from __future__ import annotations

import os
from pathlib import Path

LOG, PREVIOUS = "console.log", "console.log.1"
DEVICE = "console"  # the chardev's id on qemu's command line
MAX_RING = 1 << 20
MIN_RING = 1 << 12
_BLOCK = 1 << 16


def ring_size(max_bytes: int) -> int:
    """qemu's ring: a power of two (qemu's rule), at most the log's cap and 1 MiB."""
    wanted = max(MIN_RING, min(max_bytes, MAX_RING))
    return 1 << (wanted.bit_length() - 1)


def append(workdir: Path, data: bytes, max_bytes: int) -> None:
    """Add ``data`` to ``console.log``, first rotating it when it would pass the cap."""
    if not data:
        return
    data = data[-max_bytes:]
    path = workdir / LOG
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    if size and size + len(data) > max_bytes:
        os.replace(path, workdir / PREVIOUS)
    with path.open("ab") as out:
        out.write(data)


def _tail_bytes(paths: list[Path], newlines: int | None) -> bytes:
    """The end of the files read as one (oldest first): all of it, or from the start of
    the line ``newlines`` newlines back from the end."""
    parts: list[bytes] = []
    found = 0
    for path in reversed(paths):
        try:
            f = path.open("rb")
        except FileNotFoundError:
            continue
        with f:
            position = f.seek(0, os.SEEK_END)
            while position > 0:
                step = min(_BLOCK, position)
                position -= step
                f.seek(position)
                block = f.read(step)
                parts.append(block)
                if newlines is None:
                    continue
                found += block.count(b"\n")
                if found > newlines:  # the line before the wanted ones has ended
                    data = b"".join(reversed(parts))
                    cut = len(data)
                    for _ in range(newlines + 1):
                        cut = data.rindex(b"\n", 0, cut)
                    return data[cut + 1:]
    return b"".join(reversed(parts))


def tail(workdir: Path, length: int | None) -> str:
    """The last ``length`` complete lines of the console (None: all it keeps), each
    ending in a newline; the line the guest is still writing is left out."""
    if length == 0:
        return ""
    raw = _tail_bytes([workdir / PREVIOUS, workdir / LOG],
                      None if length is None else length + 1)
    text = raw.decode(errors="replace").replace("\r\n", "\n").replace("\r", "")
    lines = text.split("\n")[:-1]
    if length is not None:
        lines = lines[-length:]
    return "".join(line + "\n" for line in lines)
