"""A lock on a file, shared by threads and processes alike."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockTimeout(TimeoutError):
    """The file stayed locked longer than the caller would wait."""


@contextmanager
def file_lock(path: Path, timeout: float, poll: float = 0.05) -> Iterator[None]:
    """Hold an exclusive lock on `path` (made if missing), waiting at most `timeout`
    seconds for it (LockTimeout after that)."""
    with path.open("a") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(f"{path} stayed locked for {timeout:.0f} s") from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
