"""The virt driver contract: one suite every driver runs, then tests of the fake driver only.

A driver joins the suite with one entry in CASES: a function that builds it (and says
which image file its instances boot, if it needs one) in a test's temporary directory.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labs.compute.virt.base import (
    KNOWN_CAPABILITIES,
    HostResources,
    InstanceExists,
    InstanceInfo,
    InstanceNotFound,
    InstanceSpec,
    InsufficientResources,
    MigrationTarget,
    Nic,
    PowerState,
    SpawnError,
    UnsupportedOperation,
    VirtDriver,
    VirtError,
)
from labs.compute.virt.fake import FAIL_SPAWN_KEY, FakeDriver
from tests.compute.qemu_helpers import kill_leftovers, labs_image, make_driver, relayed

CONSOLE_WAIT = 120.0  # seconds a real guest may take to print its first console lines
CONCURRENT_SPAWNS = 6


@dataclass(frozen=True)
class Case:
    driver: VirtDriver
    image_path: str | None = None  # what spawn boots, for drivers that need the bytes


def _fake(tmp_path: Path) -> Case:
    return Case(FakeDriver(tmp_path / "fake-state", host="host-1"))


def _qemu(tmp_path: Path) -> Case:
    return Case(make_driver(tmp_path / "qemu-state"), image_path=str(labs_image()))


CASES: dict[str, Callable[[Path], Case]] = {"fake": _fake, "qemu": _qemu}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    built = CASES[request.param](tmp_path)
    try:
        yield built
        for info in built.driver.list_instances():
            built.driver.destroy(info.id)
        built.driver.close()
    finally:
        kill_leftovers(tmp_path / "qemu-state")


@pytest.fixture
def other_host(request: pytest.FixtureRequest, case: Case, tmp_path: Path) -> Iterator[
        VirtDriver]:
    """A second host with the same driver (a destination of live migrations)."""
    built = CASES[request.node.callspec.params["case"]](tmp_path / "other")
    try:
        yield built.driver
        for info in built.driver.list_instances():
            built.driver.destroy(info.id)
        built.driver.close()
    finally:
        kill_leftovers(tmp_path / "other" / "qemu-state")


@pytest.fixture
def driver(case: Case) -> VirtDriver:
    return case.driver


@pytest.fixture
def make_spec(case: Case) -> Callable[..., InstanceSpec]:
    def make(**overrides: Any) -> InstanceSpec:
        uid = str(uuid.uuid4())
        values: dict[str, Any] = {
            "id": uid, "name": f"vm-{uid[:8]}", "hostname": f"vm-{uid[:8]}",
            "project_id": "p" * 32, "vcpus": 1, "memory_mb": 128, "disk_gb": 1,
            "image_id": str(uuid.uuid4()), "image_path": case.image_path}
        values.update(overrides)
        return InstanceSpec(**values)
    return make


def _require(driver: VirtDriver, capability: str) -> None:
    """Every driver Labs ships offers every capability; one that does not fails here."""
    assert capability in driver.capabilities, f"{driver.name} driver lacks {capability!r}"


def _ids(driver: VirtDriver) -> dict[str, PowerState]:
    return {info.id: info.power_state for info in driver.list_instances()}


def _console_lines(driver: VirtDriver, instance_id: str, at_least: int) -> list[str]:
    deadline = time.monotonic() + CONSOLE_WAIT
    while True:
        lines = driver.console_output(instance_id).splitlines()
        if len(lines) >= at_least or time.monotonic() > deadline:
            return lines
        time.sleep(0.5)


# -- the contract: every driver ------------------------------------------------------------


def test_declares_name_capabilities_and_host(driver: VirtDriver) -> None:
    assert isinstance(driver.name, str) and driver.name
    assert driver.capabilities <= KNOWN_CAPABILITIES.keys()
    host = driver.host_resources()
    assert isinstance(host, HostResources)
    assert host.hypervisor_type and host.hypervisor_hostname and host.host_ip
    assert host.hypervisor_version > 0
    assert host.vcpus > 0 and host.memory_mb > 0 and host.disk_gb > 0


def test_spawn_ends_running_and_listed(driver: VirtDriver, make_spec: Any) -> None:
    spec = make_spec()
    driver.spawn(spec)
    assert driver.power_state(spec.id) is PowerState.RUNNING
    assert InstanceInfo(spec.id, PowerState.RUNNING) in driver.list_instances()


def test_spawn_of_an_existing_id_fails_and_keeps_the_first(
        driver: VirtDriver, make_spec: Any) -> None:
    first = make_spec()
    driver.spawn(first)
    with pytest.raises(SpawnError) as caught:
        driver.spawn(make_spec(id=first.id, name="second"))
    assert isinstance(caught.value, InstanceExists)
    assert _ids(driver) == {first.id: PowerState.RUNNING}


def test_destroy_is_idempotent_and_frees_resources(driver: VirtDriver, make_spec: Any) -> None:
    whole_host = {"vcpus": driver.host_resources().vcpus}
    spec = make_spec(**whole_host)
    driver.spawn(spec)
    driver.destroy(spec.id)
    driver.destroy(spec.id)
    driver.destroy(str(uuid.uuid4()))
    assert spec.id not in _ids(driver)
    with pytest.raises(InstanceNotFound):
        driver.power_state(spec.id)
    again = make_spec(**whole_host)
    driver.spawn(again)  # the first one's vcpus are free again
    assert driver.power_state(again.id) is PowerState.RUNNING
    driver.destroy(again.id)
    driver.spawn(make_spec(id=spec.id))  # and its id can be used again
    assert driver.power_state(spec.id) is PowerState.RUNNING


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_reboot_ends_running(driver: VirtDriver, make_spec: Any, hard: bool) -> None:
    _require(driver, "reboot")
    spec = make_spec()
    driver.spawn(spec)
    driver.reboot(spec.id, hard=hard)
    assert driver.power_state(spec.id) is PowerState.RUNNING
    if "power" in driver.capabilities:
        driver.power_off(spec.id, timeout=5)
        driver.reboot(spec.id, hard=hard)
        assert driver.power_state(spec.id) is PowerState.RUNNING


def test_power_off_and_on_are_idempotent(driver: VirtDriver, make_spec: Any) -> None:
    _require(driver, "power")
    spec = make_spec()
    driver.spawn(spec)
    driver.power_on(spec.id)
    assert driver.power_state(spec.id) is PowerState.RUNNING
    driver.power_off(spec.id, timeout=5)
    assert driver.power_state(spec.id) is PowerState.SHUTDOWN
    assert _ids(driver)[spec.id] is PowerState.SHUTDOWN
    driver.power_off(spec.id, timeout=5)
    assert driver.power_state(spec.id) is PowerState.SHUTDOWN
    driver.power_on(spec.id)
    driver.power_on(spec.id)
    assert driver.power_state(spec.id) is PowerState.RUNNING


def test_pause_and_unpause(driver: VirtDriver, make_spec: Any, tmp_path: Path) -> None:
    """Paused and unpaused (again: no change); a snapshot leaves a paused guest paused;
    a paused guest powers off at once; one that is off cannot be paused or unpaused."""
    _require(driver, "pause")
    spec = make_spec()
    driver.spawn(spec)
    driver.pause(spec.id)
    driver.pause(spec.id)
    assert driver.power_state(spec.id) is PowerState.PAUSED
    assert _ids(driver)[spec.id] is PowerState.PAUSED
    if "snapshot" in driver.capabilities:
        driver.snapshot(spec.id, tmp_path / "paused.img")
        assert driver.power_state(spec.id) is PowerState.PAUSED
    driver.unpause(spec.id)
    driver.unpause(spec.id)
    assert driver.power_state(spec.id) is PowerState.RUNNING
    if "power" in driver.capabilities:
        driver.pause(spec.id)
        started = time.monotonic()
        driver.power_off(spec.id, timeout=30)
        assert time.monotonic() - started < 15  # no wait for a guest that cannot answer
        assert driver.power_state(spec.id) is PowerState.SHUTDOWN
        with pytest.raises(VirtError):
            driver.pause(spec.id)
        with pytest.raises(VirtError):
            driver.unpause(spec.id)
        assert driver.power_state(spec.id) is PowerState.SHUTDOWN


def test_missing_instance_raises_not_found(driver: VirtDriver, tmp_path: Path) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(InstanceNotFound):
        driver.power_state(missing)
    calls: dict[str, Callable[[], object]] = {
        "reboot": lambda: driver.reboot(missing, hard=False),
        "power": lambda: driver.power_off(missing),
        "pause": lambda: driver.pause(missing),
        "console_output": lambda: driver.console_output(missing),
        "snapshot": lambda: driver.snapshot(missing, tmp_path / "missing.img"),
        "interfaces": lambda: driver.attach_nic(missing, Nic(kind="user", port_id="p1")),
        "live_migration": lambda: driver.finish_incoming(missing),
        "crash_dump": lambda: driver.trigger_crash_dump(missing),
    }
    for capability, call in calls.items():
        if capability in driver.capabilities:
            with pytest.raises(InstanceNotFound):
                call()
    assert not (tmp_path / "missing.img").exists()


def test_nics_attach_and_detach_running_or_off(driver: VirtDriver, make_spec: Any) -> None:
    """A NIC attached to a running instance (again: no change) and one detached while
    it is off; the instance runs on, and starts again with what it has."""
    _require(driver, "interfaces")
    spec = make_spec(nics=(Nic(kind="user", port_id="first"),))
    driver.spawn(spec)
    second = Nic(kind="user", port_id="second")
    driver.attach_nic(spec.id, second)
    driver.attach_nic(spec.id, second)
    assert driver.power_state(spec.id) is PowerState.RUNNING
    driver.power_off(spec.id, timeout=5)
    driver.detach_nic(spec.id, "second")
    driver.detach_nic(spec.id, "second")
    driver.attach_nic(spec.id, Nic(kind="user", port_id="third"))
    driver.power_on(spec.id)
    assert driver.power_state(spec.id) is PowerState.RUNNING
    if isinstance(driver, FakeDriver):
        assert driver.nics(spec.id) == ["first", "third"]
        assert [e for e in driver._instances[spec.id]["events"] if ":" in e] == [
            "attach:second", "detach:second", "attach:third"]


def test_console_output_length(driver: VirtDriver, make_spec: Any) -> None:
    _require(driver, "console_output")
    spec = make_spec()
    driver.spawn(spec)
    assert len(_console_lines(driver, spec.id, 3)) >= 3
    tail = driver.console_output(spec.id, length=2)
    assert len(tail.splitlines()) == 2 and tail.endswith("\n")
    assert tail in driver.console_output(spec.id)  # output only grows at the end
    assert driver.console_output(spec.id, length=0) == ""


def test_snapshot_writes_a_disk_image(driver: VirtDriver, make_spec: Any,
                                      tmp_path: Path) -> None:
    _require(driver, "snapshot")
    spec = make_spec()
    driver.spawn(spec)
    target = tmp_path / "snapshot.img"
    assert driver.snapshot(spec.id, target) in ("qcow2", "raw")
    assert target.stat().st_size > 0
    assert driver.power_state(spec.id) is PowerState.RUNNING


def test_crash_dump_needs_a_running_instance(driver: VirtDriver, make_spec: Any) -> None:
    """An NMI reaches a running guest (it runs on, or reboots); an instance that is off
    gets none: VirtError, and it stays off."""
    _require(driver, "crash_dump")
    spec = make_spec()
    driver.spawn(spec)
    driver.trigger_crash_dump(spec.id)
    assert driver.power_state(spec.id) is PowerState.RUNNING
    driver.power_off(spec.id, timeout=5)
    with pytest.raises(VirtError) as refused:
        driver.trigger_crash_dump(spec.id)
    assert not isinstance(refused.value, InstanceNotFound)
    assert driver.power_state(spec.id) is PowerState.SHUTDOWN
    if isinstance(driver, FakeDriver):
        assert driver.events(spec.id) == ["boot", "nmi", "power_off"]


def test_concurrent_spawns_of_different_ids(driver: VirtDriver, make_spec: Any) -> None:
    specs = [make_spec() for _ in range(CONCURRENT_SPAWNS)]
    with ThreadPoolExecutor(len(specs)) as pool:
        list(pool.map(driver.spawn, specs))
    assert _ids(driver) == {spec.id: PowerState.RUNNING for spec in specs}
    with ThreadPoolExecutor(len(specs)) as pool:
        list(pool.map(driver.destroy, [spec.id for spec in specs]))
    assert _ids(driver) == {}


def test_live_migration_moves_a_running_instance(driver: VirtDriver, other_host: VirtDriver,
                                                  make_spec: Any) -> None:
    _require(driver, "live_migration")
    spec = make_spec()
    driver.spawn(spec)
    target = other_host.prepare_incoming(spec)
    assert other_host.power_state(spec.id) is not PowerState.RUNNING  # waiting
    with pytest.raises(InstanceExists):
        other_host.prepare_incoming(spec)
    with relayed(target) as sent_to:
        stats = driver.live_migrate(spec.id, sent_to)
    other_host.finish_incoming(spec.id)
    assert other_host.power_state(spec.id) is PowerState.RUNNING
    assert driver.power_state(spec.id) is not PowerState.RUNNING  # left for destroy
    assert 0 < stats.downtime_ms <= stats.total_ms
    assert stats.memory_total > 0 and stats.memory_remaining == 0
    driver.destroy(spec.id)
    assert _ids(driver) == {} and _ids(other_host) == {spec.id: PowerState.RUNNING}
    # a destination that is gone: the guest runs on where it is
    with pytest.raises(VirtError):
        other_host.live_migrate(spec.id, MigrationTarget(
            uri="tcp:127.0.0.1:9", nbd_host="127.0.0.1", nbd_port=9, nbd_export="virtio0"),
            timeout=30)
    assert other_host.power_state(spec.id) is PowerState.RUNNING
    with pytest.raises(InstanceNotFound):
        driver.live_migrate("no-such-instance", target)


def _other_host(driver: VirtDriver, tmp_path: Path) -> VirtDriver:
    """A second driver of the same kind, as on another host (sharing no files the move
    needs)."""
    if isinstance(driver, FakeDriver):
        return FakeDriver(tmp_path / "fake-state-2", host="host-2")
    return make_driver(tmp_path / "qemu-state-2")


def test_migrate_to_another_host_confirm_and_revert(driver: VirtDriver, make_spec: Any,
                                                    tmp_path: Path) -> None:
    _require(driver, "migrate")
    other = _other_host(driver, tmp_path)
    try:
        spec = make_spec()
        driver.spawn(spec)
        driver.power_off(spec.id, timeout=5)
        source = driver.migrate_out(spec.id)
        assert spec.id not in _ids(driver)  # set aside, not listed
        with pytest.raises(SpawnError):  # a disk never shrinks
            other.migrate_in(dataclasses.replace(spec, disk_gb=0), source, False)
        assert _ids(other) == {}
        source = driver.migrate_out(spec.id)  # asked again: offered again
        bigger = dataclasses.replace(spec, memory_mb=256, disk_gb=2)
        other.migrate_in(bigger, source, False)
        assert _ids(other) == {spec.id: PowerState.SHUTDOWN}
        driver.confirm_migration(spec.id)
        driver.confirm_migration(spec.id)  # idempotent
        with pytest.raises(InstanceNotFound):
            driver.revert_migration(spec.id, False)
        # and back, reverted: the copy set aside runs again, the other is destroyed
        back = other.migrate_out(spec.id)
        driver.migrate_in(bigger, back, False)
        driver.destroy(spec.id)
        other.revert_migration(spec.id, True)
        other.revert_migration(spec.id, True)  # idempotent
        assert _ids(other) == {spec.id: PowerState.RUNNING}
        assert _ids(driver) == {}
    finally:
        for info in other.list_instances():
            other.destroy(info.id)
        other.close()
        kill_leftovers(tmp_path / "qemu-state-2")


def test_migrate_on_the_same_host(driver: VirtDriver, make_spec: Any) -> None:
    _require(driver, "migrate")
    spec = make_spec()
    driver.spawn(spec)
    driver.power_off(spec.id, timeout=5)
    source = driver.migrate_out(spec.id)
    driver.migrate_in(dataclasses.replace(spec, vcpus=2, disk_gb=2), source, False)
    assert _ids(driver) == {spec.id: PowerState.SHUTDOWN}
    with pytest.raises(VirtError):  # the new copy is in the way
        driver.revert_migration(spec.id, False)
    driver.destroy(spec.id)
    driver.revert_migration(spec.id, False)
    assert _ids(driver) == {spec.id: PowerState.SHUTDOWN}
    driver.migrate_out(spec.id)
    driver.confirm_migration(spec.id)
    with pytest.raises(InstanceNotFound):
        driver.revert_migration(spec.id, False)
    assert _ids(driver) == {}


# -- the base class --------------------------------------------------------------------------


class _Minimal(VirtDriver):
    name = "minimal"

    def host_resources(self) -> HostResources:
        return HostResources("minimal", 1, "h", "127.0.0.1", 1, 1, 1)

    def list_instances(self) -> list[InstanceInfo]:
        return []

    def spawn(self, spec: InstanceSpec) -> None:
        raise SpawnError("never")

    def destroy(self, instance_id: str) -> None:
        pass

    def power_state(self, instance_id: str) -> PowerState:
        raise InstanceNotFound(instance_id)


def test_base_refuses_undeclared_operations_and_undefined_capabilities(tmp_path: Path) -> None:
    minimal = _Minimal()
    assert minimal.capabilities == frozenset()
    with pytest.raises(UnsupportedOperation):
        minimal.reboot("x", hard=True)
    with pytest.raises(UnsupportedOperation):
        minimal.snapshot("x", tmp_path / "x")
    minimal.close()
    with pytest.raises(TypeError, match="does not define power_on"):
        type("Half", (_Minimal,), {"capabilities": frozenset({"power"}),
                                   "power_off": lambda self, i, timeout=60.0: None})
    with pytest.raises(TypeError, match="unknown capabilities"):
        type("Odd", (_Minimal,), {"capabilities": frozenset({"teleport"})})


# -- the fake driver only --------------------------------------------------------------------


def _spec(**overrides: Any) -> InstanceSpec:
    uid = str(uuid.uuid4())
    values: dict[str, Any] = {"id": uid, "name": f"vm-{uid[:8]}", "hostname": f"vm-{uid[:8]}",
                              "project_id": "p", "vcpus": 1, "memory_mb": 128, "disk_gb": 1,
                              "image_id": "img"}
    values.update(overrides)
    return InstanceSpec(**values)


def test_fake_host_resources(tmp_path: Path) -> None:
    fake = FakeDriver(tmp_path, "cn-1", vcpus=8, memory_mb=4096, disk_gb=40)
    assert fake.host_resources() == HostResources("fake", 1000, "cn-1", "127.0.0.1", 8, 4096, 40)


def test_fake_instances_survive_a_restart(tmp_path: Path) -> None:
    first = FakeDriver(tmp_path, "cn-1", vcpus=2)
    running, stopped = _spec(), _spec()
    first.spawn(running)
    first.spawn(stopped)
    first.power_off(stopped.id)
    console = first.console_output(stopped.id)
    first.close()

    second = FakeDriver(tmp_path, "cn-1", vcpus=2)
    assert _ids(second) == {running.id: PowerState.RUNNING, stopped.id: PowerState.SHUTDOWN}
    assert second.console_output(stopped.id) == console
    with pytest.raises(InsufficientResources):  # both still hold their vcpus
        second.spawn(_spec())
    assert _ids(FakeDriver(tmp_path, "cn-2")) == {}  # another host's file


@pytest.mark.parametrize("resource,total", [("vcpus", 4), ("memory_mb", 1024), ("disk_gb", 10)])
def test_fake_capacity_is_honoured_and_a_failed_spawn_leaves_nothing(
        tmp_path: Path, resource: str, total: int) -> None:
    fake = FakeDriver(tmp_path, "cn-1", **{resource: total})
    fake.spawn(_spec(**{resource: total - 1}))
    too_big = _spec(**{resource: 2})
    with pytest.raises(InsufficientResources, match=resource):
        fake.spawn(too_big)
    assert too_big.id not in _ids(fake)
    assert not fake.record_path(too_big.id).exists()
    fake.spawn(_spec(**{resource: 1}))  # exactly full is fine
    with pytest.raises(InsufficientResources):
        fake.spawn(_spec(**{resource: 1}))


def test_fake_failure_injection(tmp_path: Path) -> None:
    spec = _spec(metadata={FAIL_SPAWN_KEY: "cn-9, cn-1"})
    failing = FakeDriver(tmp_path, "cn-1")
    with pytest.raises(SpawnError, match="fake spawn failure injected on cn-1"):
        failing.spawn(spec)
    assert _ids(failing) == {}
    assert not failing.record_path(spec.id).exists()
    healthy = FakeDriver(tmp_path, "cn-2", vcpus=1)
    healthy.spawn(spec)  # another host; and the failed spawn held nothing
    assert _ids(healthy) == {spec.id: PowerState.RUNNING}
    failing.spawn(_spec(vcpus=16))  # all of cn-1 is still free


def test_fake_console_tells_the_story(tmp_path: Path) -> None:
    def story(fake: FakeDriver, spec: InstanceSpec) -> str:
        fake.spawn(spec)
        fake.reboot(spec.id, hard=False)
        fake.power_off(spec.id)
        fake.power_off(spec.id)  # already off: no event
        fake.power_on(spec.id)
        fake.reboot(spec.id, hard=True)
        return fake.console_output(spec.id)

    spec = _spec(name="web-1", hostname="web-one")
    out = story(FakeDriver(tmp_path / "a", "cn-1"), spec)
    assert out == story(FakeDriver(tmp_path / "b", "cn-1"), spec)  # deterministic
    assert "web-1" in out and "web-one" in out
    events = [line for line in out.splitlines()
              if any(word in line for word in ("reboot", "power off", "power on"))]
    assert len(events) == 4
    assert "(soft)" in events[0] and "power off" in events[1] and "(hard)" in events[3]
    lines = out.splitlines()
    fake = FakeDriver(tmp_path / "a", "cn-1")
    assert fake.console_output(spec.id, length=3).splitlines() == lines[-3:]
    assert fake.console_output(spec.id, length=10_000).splitlines() == lines


def test_fake_spawn_seconds_do_not_hold_the_lock(tmp_path: Path) -> None:
    fake = FakeDriver(tmp_path, "cn-1", vcpus=8, spawn_seconds=0.3)
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(fake.spawn, [_spec() for _ in range(8)]))
    assert time.monotonic() - started < 8 * 0.3 * 0.75  # one at a time would take 2.4 s
    assert len(_ids(fake)) == 8


def test_fake_building_instances_hold_their_resources(tmp_path: Path) -> None:
    fake = FakeDriver(tmp_path, "cn-1", vcpus=2, spawn_seconds=1.0)
    slow = threading.Thread(target=fake.spawn, args=(_spec(vcpus=2),))
    slow.start()
    deadline = time.monotonic() + 10
    while not fake._building and time.monotonic() < deadline:  # until it has reserved
        time.sleep(0.01)
    with pytest.raises(InsufficientResources):
        fake.spawn(_spec())
    slow.join()
    assert len(_ids(fake)) == 1


def test_fake_state_files_stay_valid_json_under_concurrent_operations(tmp_path: Path) -> None:
    fake = FakeDriver(tmp_path, "cn-1", vcpus=64)
    stop = threading.Event()
    bad: list[str] = []
    reads = 0

    def read() -> None:
        nonlocal reads
        while not stop.is_set():
            for path in fake.instances_dir.glob("*.json"):
                try:
                    json.loads(path.read_bytes())
                    reads += 1
                except FileNotFoundError:
                    pass  # destroyed meanwhile
                except ValueError as exc:
                    bad.append(str(exc))
            time.sleep(0.001)  # leave the writers some of the GIL

    def churn(worker: int) -> None:
        for round_ in range(10):
            spec = _spec()
            fake.spawn(spec)
            fake.reboot(spec.id, hard=bool(round_ % 2))
            fake.power_off(spec.id)
            fake.power_on(spec.id)
            fake.snapshot(spec.id, tmp_path / f"snap-{worker}.img")
            if round_ % 3:
                fake.destroy(spec.id)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(churn, range(8)))
    finally:
        stop.set()
        reader.join()
    assert bad == [] and reads > 0
    assert len(list(fake.instances_dir.glob("*.json"))) == 8 * 4
    assert _ids(FakeDriver(tmp_path, "cn-1", vcpus=64)) == _ids(fake)
    assert [p.name for p in fake.instances_dir.iterdir() if p.name.endswith(".tmp")] == []
