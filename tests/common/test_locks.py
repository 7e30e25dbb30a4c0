"""The file lock: one holder at a time, across processes; a bounded wait."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from labs.common.locks import LockTimeout, file_lock

HOLD = """
import sys, time
from pathlib import Path
from labs.common.locks import file_lock
with file_lock(Path(sys.argv[1]), 5):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_another_process_holding_the_lock_makes_us_wait_then_time_out(
        tmp_path: Path) -> None:
    path = tmp_path / "lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path), "1.0"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(LockTimeout, match="stayed locked"), file_lock(path, 0.2):
            pass
        began = time.monotonic()
        with file_lock(path, 10):
            assert time.monotonic() - began > 0.3  # it waited for the holder to finish
    finally:
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
    with file_lock(path, 0.1):  # free again
        pass
