"""The periodic-task helper: rounds, wake-ups, failures and a prompt stop."""

from __future__ import annotations

import threading
import time

import pytest

from labs.common.periodic import Periodic


def test_runs_every_interval_survives_failures_and_stops_promptly(
        caplog: pytest.LogCaptureFixture) -> None:
    rounds: list[float] = []
    done = threading.Event()

    def task() -> None:
        rounds.append(time.monotonic())
        if len(rounds) == 3:
            done.set()
        if len(rounds) == 1:
            raise RuntimeError("first round fails")

    job = Periodic("test-periodic", 0.01, task, what="the test task")
    job.start()
    assert done.wait(5)
    started = time.monotonic()
    job.stop()
    assert time.monotonic() - started < 1
    assert "the test task failed" in caplog.text


def test_run_at_start_and_wake() -> None:
    calls = threading.Semaphore(0)
    job = Periodic("test-wake", 60, calls.release, run_at_start=True)
    job.start()
    assert calls.acquire(timeout=5)  # at once, not after 60 s
    job.wake()
    assert calls.acquire(timeout=5)
    job.stop()
    assert job.stopping and job.sleep(60)


def test_stop_before_start_is_harmless() -> None:
    Periodic("never-started", 1, lambda: None).stop()
