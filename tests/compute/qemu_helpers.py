"""What tests of the qemu driver share: the Labs image (built once per test process, as
tests/vmimage/test_builder.py gets it), one image cache for every driver in the process, and
a way to make sure no qemu a test started outlives it."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labs.compute.agent.relays import DISK, MIGRATION, Inbound, Outbound
from labs.compute.virt.base import MigrationTarget, VirtError
from labs.compute.virt.qemu import QemuDriver
from labs.vmimage.builder import ImageBuildError, build_image

CACHE = Path(os.environ.get("LABS_IMAGE_CACHE") or Path.home() / ".cache/labs/image-build")
ACCEL = os.environ.get("LABS_TEST_ACCEL", "auto")
SOFT_REBOOT_SECONDS = 6.0  # a guest still booting ignores the power button this long

_lock = threading.Lock()
_shared: dict[str, Path] = {}


def _scratch() -> Path:
    """A directory for this test process, removed when it ends."""
    with _lock:
        if "scratch" not in _shared:
            path = Path(tempfile.mkdtemp(prefix="labs-qemu-tests-"))
            atexit.register(shutil.rmtree, path, ignore_errors=True)
            _shared["scratch"] = path
        return _shared["scratch"]


def labs_image() -> Path:
    """The bootable Labs image (qcow2), built or taken from the build cache once."""
    scratch = _scratch()
    with _lock:
        if "image" not in _shared:
            for program, package in (("qemu-system-x86_64", "qemu-system-x86"),
                                     ("qemu-img", "qemu-utils"), ("xorriso", "xorriso")):
                if shutil.which(program) is None:
                    pytest.fail(f"{program} is needed: apt-get install {package}")
            try:
                _shared["image"] = build_image(scratch / "image", CACHE).path
            except ImageBuildError as exc:
                pytest.fail(f"the image build failed: {exc}")
        return _shared["image"]


def make_driver(state_dir: Path, accel: str = ACCEL, **options: Any) -> QemuDriver:
    """A qemu driver on `state_dir` sharing the process's image cache; fails the test
    (never skips it) when qemu is missing."""
    labs_image()
    try:
        return QemuDriver(state_dir, "qemu-test-host", accel=accel, vcpu_overcommit=4.0,
                          soft_reboot_seconds=SOFT_REBOOT_SECONDS,
                          image_cache=_scratch() / "image-cache", **options)
    except VirtError as exc:
        pytest.fail(str(exc))


def kill_leftovers(state_dir: Path) -> None:
    """Kill every qemu of the instances under `state_dir` (for fixture tear-downs, after
    the driver's own destroy, which a failed test may not have reached)."""
    for pid_file in state_dir.glob("instances/*/pid"):
        try:
            pid = int(pid_file.read_text())
            if os.readlink(f"/proc/{pid}/cwd") == str(pid_file.parent):
                os.killpg(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass


def qemu_processes(marker: str) -> list[int]:
    """Pids of live processes whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker.encode() in cmdline and state != b"Z":
            found.append(int(entry.name))
    return found


@contextlib.contextmanager
def relayed(target: MigrationTarget, psk: str = "") -> Iterator[MigrationTarget]:
    """What the agents do for a destination waiting on unix sockets: its relay on
    loopback, the source's to it; the target the source's driver sends to."""
    if not target.uri.startswith("unix:"):
        yield dataclasses.replace(target, psk=psk)
        return
    routes = {MIGRATION: target.uri.removeprefix("unix:"), DISK: target.nbd_socket}
    with Inbound("127.0.0.1", routes, lifetime=300, key=psk) as inbound, \
            Outbound(inbound.address, [MIGRATION, DISK], lifetime=300, key=psk) as outbound:
        assert isinstance(inbound, Inbound) and isinstance(outbound, Outbound)
        yield MigrationTarget(uri=f"unix:{outbound.paths[MIGRATION]}",
                              nbd_socket=outbound.paths[DISK],
                              nbd_export=target.nbd_export, psk=psk)
