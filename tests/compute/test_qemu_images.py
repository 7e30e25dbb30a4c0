"""The qemu driver's image cache stays within its size limit: least recently used images
go first, an image an instance uses never goes, and a prune does not race a spawn that has
just got its image. Real files, real qemu-img; one real instance (qemu, TCG) at the end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from labs.common.locks import file_lock
from labs.compute.virt.base import InstanceSpec
from labs.compute.virt.qemu import QemuDriver
from labs.compute.virt.qemu_images import ImageCache
from tests.compute.qemu_helpers import ACCEL, kill_leftovers, labs_image

MIB = 1 << 20


def _qemu_img() -> str:
    found = shutil.which("qemu-img")
    if found is None:
        pytest.fail("qemu-img is needed: apt-get install qemu-utils")
    return found


def _image(tmp_path: Path, name: str, mib: int = 1) -> Path:
    """A raw disk with a boot sector, every byte written (so it takes its size on disk)."""
    path = tmp_path / "store" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"\1" * 510 + b"\x55\xaa" + os.urandom(mib * MIB - 512))
    return path


def _cache(tmp_path: Path, max_mib: float, in_use: set[str]) -> ImageCache:
    return ImageCache(tmp_path / "cache", _qemu_img(), int(max_mib * MIB),
                      lambda: set(in_use))


def _cached(cache: ImageCache) -> list[str]:
    return sorted(entry.name for entry in cache.root.iterdir()
                  if entry.is_dir() and not entry.name.startswith("."))


def _age(cache: ImageCache, image_id: str, seconds_ago: float) -> None:
    stamp = time.time() - seconds_ago
    os.utime(cache.root / image_id / "used", (stamp, stamp))


def test_least_recently_used_go_first_until_within_the_limit(tmp_path: Path) -> None:
    cache = _cache(tmp_path, 1 << 20, set())  # no prune while filling it
    for name in ("a", "b", "c", "d"):
        cache.get(name, str(_image(tmp_path, name)))
    for name, ago in (("a", 10), ("b", 40), ("c", 30), ("d", 20)):
        _age(cache, name, ago)
    cache.get("a", None)  # used now: the newest
    cache.max_bytes = int(2.5 * MIB)
    pruned = cache.prune()
    assert pruned.removed == ("b", "c")  # the two least recently used
    assert pruned.freed >= 2 * MIB
    assert pruned.kept <= cache.max_bytes
    assert _cached(cache) == ["a", "d"]
    assert cache.get("d", None).disk.exists()  # what is left is whole


def test_an_image_in_use_stays_even_over_the_limit(tmp_path: Path) -> None:
    in_use = {"old", "older"}
    cache = _cache(tmp_path, 1 << 20, in_use)
    for name in ("older", "old", "unused"):
        cache.get(name, str(_image(tmp_path, name)))
    _age(cache, "older", 300)
    _age(cache, "old", 200)
    cache.max_bytes = 0
    pruned = cache.prune()
    assert pruned.removed == ("unused",)
    assert _cached(cache) == ["old", "older"]
    assert pruned.kept > cache.max_bytes  # over the limit, but in use
    in_use.clear()
    assert cache.prune().removed == ("older", "old")
    assert _cached(cache) == []


def test_a_new_image_prunes_the_cache_but_not_itself(tmp_path: Path) -> None:
    in_use: set[str] = set()
    cache = _cache(tmp_path, 1.5, in_use)
    cache.get("first", str(_image(tmp_path, "first")))
    in_use.add("second")  # as a spawn does before it gets its image
    cache.get("second", str(_image(tmp_path, "second")))
    assert _cached(cache) == ["second"]


def test_a_locked_image_is_left_and_half_made_copies_go(tmp_path: Path) -> None:
    cache = _cache(tmp_path, 1 << 20, set())
    cache.get("busy", str(_image(tmp_path, "busy")))
    cache.max_bytes = 0
    half = cache.root / ".crashed.x1y2z3"  # as a copy cut short by a crash leaves it
    half.mkdir()
    (half / "disk").write_bytes(b"\1" * MIB)
    with file_lock(cache.root / "busy.lock", 1.0):  # a spawn is checking it
        pruned = cache.prune()
    assert pruned.removed == ()
    assert pruned.freed >= MIB
    assert not half.exists()
    assert _cached(cache) == ["busy"]
    assert cache.prune().removed == ("busy",)


def test_a_prune_never_takes_the_image_of_a_spawn_under_way(tmp_path: Path) -> None:
    """Spawns register their image, get it and make an overlay on it, while prunes run
    without pause with a limit of nothing: every overlay finds its backing file."""
    building: list[str] = []  # two spawns may use one image
    guard = threading.Lock()

    def in_use() -> set[str]:
        with guard:
            return set(building)

    cache = ImageCache(tmp_path / "cache", _qemu_img(), 0, in_use)
    sources = {name: _image(tmp_path, name) for name in ("x", "y", "z")}
    stop, failures, prunes = threading.Event(), [], [0]

    def prune() -> None:
        while not stop.is_set():
            cache.prune()
            prunes[0] += 1

    def spawn(worker: int) -> None:
        for round_ in range(6):
            name = "xyz"[(worker + round_) % 3]
            with guard:
                building.append(name)
            try:
                image = cache.get(name, str(sources[name]))
                time.sleep(0.01)  # making the overlay and the config drive
                if not image.disk.exists() or image.disk.stat().st_size != MIB:
                    failures.append(f"{name}: its disk went under a spawn")
            finally:
                with guard:
                    building.remove(name)

    pruner = threading.Thread(target=prune)
    pruner.start()
    spawners = [threading.Thread(target=spawn, args=(i,)) for i in range(3)]
    for thread in spawners:
        thread.start()
    for thread in spawners:
        thread.join(timeout=120)
    stop.set()
    pruner.join(timeout=30)
    assert failures == []
    assert prunes[0] > 10
    cache.prune()
    assert _cached(cache) == []


def test_a_spawn_that_gets_the_image_while_a_prune_decides_keeps_it(tmp_path: Path) -> None:
    """The moment that matters: a prune has found the image unused, and before it takes
    the image's lock a spawn registers and gets it. The prune asks again under the lock
    and keeps it."""
    building: set[str] = set()
    cache = _cache(tmp_path, 1 << 20, building)
    source = _image(tmp_path, "x")
    cache.get("x", str(source))
    cache.max_bytes = 0
    asked = [0]

    def in_use() -> set[str]:
        asked[0] += 1
        if asked[0] == 1:  # the prune's first look: unused; now a spawn comes
            spawn = threading.Thread(target=lambda: (building.add("x"),
                                                     cache.get("x", str(source))))
            spawn.start()
            spawn.join()
            return set()
        return set(building)

    cache.in_use = in_use
    assert cache.prune().removed == ()
    assert asked[0] >= 2
    assert cache.get("x", None).disk.stat().st_size == MIB


def test_the_driver_keeps_the_image_of_a_stopped_instance(tmp_path: Path) -> None:
    """A real instance (qemu under TCG), stopped: with a limit of nothing its image stays,
    as its overlay's backing file, and goes once the instance is deleted."""
    state_dir = tmp_path / "state"
    labs_image()
    driver = QemuDriver(state_dir, "prune-host", accel=ACCEL, image_cache=tmp_path / "cache",
                        image_cache_max_bytes=0)
    uid = str(uuid.uuid4())
    spec = InstanceSpec(id=uid, name="vm", hostname="vm", project_id="p1", vcpus=1,
                        memory_mb=128, disk_gb=1, image_id="labs-image",
                        image_path=str(labs_image()))
    try:
        driver.spawn(spec)  # caching the image prunes, but not what the spawn uses
        driver.power_off(uid, timeout=1.0)
        driver.manage_image_cache()
        backing = driver.images.root / "labs-image" / "disk"
        assert backing.exists()
        info = subprocess.run(["qemu-img", "info", "-U", "--output=json",
                               str(state_dir / "instances" / uid / "disk.qcow2")],
                              capture_output=True, text=True, check=True, timeout=60).stdout
        assert json.loads(info)["backing-filename"] == str(backing)
        driver.destroy(uid)
        driver.manage_image_cache()
        assert not (driver.images.root / "labs-image").exists()
    finally:
        driver.destroy(uid)
        driver.close()
        kill_leftovers(state_dir)

