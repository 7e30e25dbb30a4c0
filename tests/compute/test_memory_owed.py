"""What the qemu driver owes against the host's MemAvailable: instances being built
take their guest memory and overhead, VMs still booting what they have not touched yet;
VMs that booted long ago are in MemAvailable already."""

from __future__ import annotations

import os

import pytest

from labs.compute.virt import qemu_memory
from labs.compute.virt.qemu_memory import RunningVm


def test_builds_and_booting_vms_are_owed(monkeypatch: pytest.MonkeyPatch) -> None:
    held = {101: 60, 102: 300}
    monkeypatch.setattr(qemu_memory, "pss_mb", held.get)
    ages = {101: 5.0, 102: 10.0, 103: qemu_memory.BOOT_SECONDS + 1}
    vms = [RunningVm("booting", 101, 128), RunningVm("big", 102, 128),
           RunningVm("old", 103, 128)]
    owed = qemu_memory.owed_mb([128, 512], vms, 96, started_ago=ages.get)
    # two builds in full; the booting VM what it has not taken yet; the one holding more
    # than its share and the old one nothing
    assert owed == (128 + 96) + (512 + 96) + (128 + 96 - 60)


def test_a_gone_process_owes_nothing() -> None:
    assert qemu_memory.seconds_since_start(2**22 + 12345) is None
    assert qemu_memory.owed_mb([], [RunningVm("gone", 2**22 + 12345, 128)], 96) == 0


def test_this_process_started_a_moment_ago() -> None:
    age = qemu_memory.seconds_since_start(os.getpid())
    assert age is not None and 0 <= age < 3600
