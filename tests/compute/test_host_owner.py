"""Who owns a network prefix's host state: a cloud claims it at start, adopts its own,
and refuses what another cloud left (naming that cloud and how to remove it)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.wiring.host_owner import (
    OWNER_FILE,
    HostStateTaken,
    Owner,
    claim,
    foreign_owner,
    read_owner,
    release,
)


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.fixture
def labs_process() -> Iterator[int]:
    """A live process whose command line is a Labs one."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "labs"])
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline")
        for _ in range(100):  # until it has exec'd (before, it has pytest's command line)
            if b"labs" in cmdline.read_bytes():
                break
            time.sleep(0.05)
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def left_network(state: Path) -> None:
    (state / "networks" / "n1").mkdir(parents=True)
    (state / "networks" / "n1" / "network.json").write_text("{}")


def test_claim_records_the_data_dir_and_pid(tmp_path: Path) -> None:
    state, data = tmp_path / "run" / "t1", tmp_path / "a" / ".." / "a"
    claim(state, "t1", data, pid=1234)
    assert read_owner(state) == Owner(str((tmp_path / "a").resolve()), 1234)
    assert json.loads((state / OWNER_FILE).read_text())["data_dir"] == str(tmp_path / "a")


def test_the_same_cloud_adopts_its_state(tmp_path: Path, labs_process: int) -> None:
    state = tmp_path / "t1"
    claim(state, "t1", tmp_path / "a", pid=labs_process)
    left_network(state)
    claim(state, "t1", tmp_path / "a", pid=dead_pid())  # a restart of the same cloud
    assert read_owner(state) is not None


def test_another_cloud_that_left_state_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "t1"
    claim(state, "t1", tmp_path / "a", pid=dead_pid())
    left_network(state)
    with pytest.raises(HostStateTaken) as refused:
        claim(state, "t1", tmp_path / "b")
    message = str(refused.value)
    assert f"labs down --data-dir {tmp_path / 'a'}" in message
    assert "[agent] network_prefix" in message
    assert read_owner(state) == Owner(str(tmp_path / "a"), refused.value.owner.pid)


def test_another_cloud_still_running_is_refused(tmp_path: Path, labs_process: int) -> None:
    state = tmp_path / "t1"
    claim(state, "t1", tmp_path / "a", pid=labs_process)
    with pytest.raises(HostStateTaken, match=f"pid {labs_process} runs"):
        claim(state, "t1", tmp_path / "b")


def test_a_stopped_owner_that_left_nothing_is_taken_over(tmp_path: Path) -> None:
    state = tmp_path / "t1"
    claim(state, "t1", tmp_path / "a", pid=dead_pid())
    assert foreign_owner(state, tmp_path / "b") is None
    claim(state, "t1", tmp_path / "b", pid=7)
    assert read_owner(state) == Owner(str(tmp_path / "b"), 7)


def test_a_recycled_pid_of_another_program_is_not_the_owner_running(tmp_path: Path) -> None:
    with subprocess.Popen(["sleep", "30"]) as other:
        try:
            assert not Owner(str(tmp_path), other.pid).running()
        finally:
            other.kill()


def test_unreadable_or_missing_records_have_no_owner(tmp_path: Path) -> None:
    assert read_owner(tmp_path / "none") is None
    tmp_path.joinpath(OWNER_FILE).write_text("{not json")
    assert read_owner(tmp_path) is None
    left_network(tmp_path)
    claim(tmp_path, "t1", tmp_path / "a", pid=5)  # records from before owner records
    assert read_owner(tmp_path) == Owner(str(tmp_path / "a"), 5)


def test_a_cloud_that_made_nothing_releases_its_claim(tmp_path: Path) -> None:
    state = tmp_path / "t1"
    claim(state, "t1", tmp_path / "a", pid=5)
    release(state, tmp_path / "b")  # not the owner: nothing changes
    assert read_owner(state) is not None
    release(state, tmp_path / "a")
    assert not state.exists()
    claim(state, "t1", tmp_path / "a", pid=5)
    left_network(state)
    release(state, tmp_path / "a")  # it made networks: they stay claimed
    assert read_owner(state) == Owner(str(tmp_path / "a"), 5)
