"""The agent turns the kernel's same-page merging on when it may, and says what it did;
it never lowers what an operator set, and leaves KSM alone when told to. Against a copy of
/sys/kernel/mm/ksm's files (the real one is checked in tests/e2e/test_vms.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labs.common.config import ConfigError
from labs.compute.virt import ksm


def sysfs(tmp_path: Path, **values: int) -> Path:
    root = tmp_path / "ksm"
    root.mkdir()
    given = {"run": 0, "pages_to_scan": 100, "pages_shared": 0, "pages_sharing": 0,
             "full_scans": 0, **values}
    for name, value in given.items():
        (root / name).write_text(f"{value}\n")
    return root


def test_auto_turns_ksm_on_and_raises_the_scan_rate(tmp_path: Path) -> None:
    root = sysfs(tmp_path)
    said = ksm.turn_on("auto", 1000, root)
    assert said.startswith("KSM turned on (pages_to_scan 100 -> 1000)")
    assert (root / "run").read_text() == "1\n"
    state = ksm.read_state(root)
    assert state is not None and (state.run, state.pages_to_scan) == (1, 1000)


def test_an_operators_higher_scan_rate_is_kept(tmp_path: Path) -> None:
    root = sysfs(tmp_path, run=1, pages_to_scan=4000, pages_sharing=2560, pages_shared=10)
    said = ksm.turn_on("auto", 1000, root)
    assert said.startswith("KSM already on: on, 4000 pages per scan, saving 10 MB")
    assert (root / "pages_to_scan").read_text() == "4000\n"


def test_off_leaves_the_host_as_it_is(tmp_path: Path) -> None:
    root = sysfs(tmp_path)
    assert "ksm = off" in ksm.turn_on("off", 1000, root)
    assert (root / "run").read_text() == "0\n"
    assert (root / "pages_to_scan").read_text() == "100\n"


def test_a_kernel_without_ksm_or_a_host_that_refuses_is_said(tmp_path: Path) -> None:
    assert "not in this kernel" in ksm.turn_on("auto", 1000, tmp_path / "missing")
    root = sysfs(tmp_path)
    (root / "run").unlink()
    (root / "run").mkdir()  # reads fail: as if the kernel had no KSM
    assert ksm.read_state(root) is None
    (root / "run").rmdir()
    (root / "run").write_text("0\n")
    (root / "pages_to_scan").unlink()
    (root / "pages_to_scan").mkdir()
    assert ksm.read_state(root) is None


def test_a_write_the_kernel_refuses_leaves_ksm_off_and_says_how(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = sysfs(tmp_path)

    def refuse(self: Path, data: str) -> int:
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Path, "write_text", refuse)
    said = ksm.turn_on("auto", 1000, root)
    assert said.startswith("KSM not turned on (Permission denied)")
    assert f"echo 1 > {root / 'run'}" in said
    assert (root / "run").read_text() == "0\n"


def test_a_bad_mode_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="auto or off"):
        ksm.turn_on("always", 1000, Path("/nonexistent"))


def test_the_agent_refuses_bad_ksm_options(tmp_path: Path) -> None:
    from labs.common.config import Config
    from labs.common.runner import Site
    from labs.compute.config import AgentOptions
    from labs.wiring.agent import make_driver

    for bad in ({"ksm": "always"}, {"ksm_pages_to_scan": "0"}):
        site = Site(tmp_path, Config({"agent": {"driver": "qemu", **bad}}, environ={}))
        with pytest.raises(ConfigError, match=r"\[agent\] ksm"):
            make_driver(site, site.config.group(AgentOptions), "h")
