"""qemu's own log of an instance stays bounded across its starts."""

from __future__ import annotations

from pathlib import Path

from labs.compute.virt.qemu_process import bound_log


def test_qemu_log_is_moved_aside_once_past_its_cap(tmp_path: Path) -> None:
    assert bound_log(tmp_path, 100) == 0  # no log yet
    (tmp_path / "qemu.log").write_bytes(b"x" * 100)
    assert bound_log(tmp_path, 100) == 100  # at the cap: appended to
    (tmp_path / "qemu.log").write_bytes(b"y" * 101)
    assert bound_log(tmp_path, 100) == 0
    assert (tmp_path / "qemu.log.1").read_bytes() == b"y" * 101
    assert not (tmp_path / "qemu.log").exists()
