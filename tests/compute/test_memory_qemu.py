"""Real qemu: the driver measures what a running VM costs beyond its guest memory, the
agent reports it, and the scheduler refuses a server the host's memory cannot hold."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from labs.compute import models
from labs.compute.virt import qemu_memory
from labs.compute.virt.qemu import QemuDriver
from labs.network.agent.host import HostNetworking
from labs.wiring.agent import agent_on
from tests.compute.conftest import Plane, make_plane
from tests.compute.qemu_helpers import kill_leftovers, labs_image, make_driver
from tests.conftest import Cloud

HOST = "qemu-mem"
NANO = 128  # g1.nano, flavor "6"
#: what the host offers: one g1.nano and its overhead (at least the TCG default) fit,
#: two do not
CAP_MB = NANO + qemu_memory.DEFAULT_OVERHEAD_MB["tcg"] + 100


@pytest.fixture
def qemu_plane(cloud: Cloud, tmp_path: Path) -> Iterator[tuple[Plane, QemuDriver]]:
    state_dir = tmp_path / "qemu-state"
    image = str(labs_image())
    driver = make_driver(state_dir, accel="tcg")
    try:
        for plane in make_plane(cloud, tmp_path, hosts=()):
            bus = plane._bus(f"compute.{HOST}")
            agent = agent_on(bus, HOST, "nova", driver, heartbeat_seconds=1.0, workers=4,
                             network=HostNetworking(None), image_files=lambda _: image,
                             memory_cap_mb=CAP_MB)
            bus.start()
            agent.start()
            plane.agents[HOST] = agent
            try:
                yield plane, driver
            finally:
                for info in driver.list_instances():
                    driver.destroy(info.id)
    finally:
        kill_leftovers(state_dir)


def settled(plane: Plane, name: str, timeout: float = 180.0) -> dict[str, Any]:
    created = plane.create(name=name, flavorRef="6", wait=None)
    deadline = time.monotonic() + timeout
    shown: dict[str, Any] = {}
    while time.monotonic() < deadline:
        shown = plane.show(str(created["id"]))
        if shown["status"] in ("ACTIVE", "ERROR") and shown["OS-EXT-STS:task_state"] is None:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{name} neither ACTIVE nor ERROR after {timeout} s: {shown}")


def node_reported(plane: Plane) -> models.ComputeNode:
    """The agent's node once a heartbeat has carried a measured overhead (bounded wait)."""
    for _ in range(300):
        with plane.service.db.reading() as tx:
            node = tx.scalars(sa.select(models.ComputeNode)
                              .where(models.ComputeNode.host == HOST)).one()
        if node.memory_reported_at is not None and node.memory_overhead_mb > 0:
            return node
        time.sleep(0.1)
    raise AssertionError(f"no memory report from {HOST} within 30 s")


def test_a_running_vm_costs_an_overhead_and_a_full_host_refuses(
        qemu_plane: tuple[Plane, QemuDriver]) -> None:
    plane, driver = qemu_plane
    first = settled(plane, "first")
    assert first["status"] == "ACTIVE", first
    vms = qemu_memory.running_vms(driver.instances_dir, driver.monitor.running_pid)
    assert len(vms) == 1 and vms[0].memory_mb == NANO
    measured: int | None = None
    deadline = time.monotonic() + 240  # the guest touches its memory as it boots
    while time.monotonic() < deadline:
        measured = qemu_memory.measured_overhead_mb(vms)
        if measured is not None and measured > 0:
            break
        time.sleep(1)
    pss = qemu_memory.pss_mb(vms[0].pid)
    print(f"qemu {NANO} MiB guest under TCG: PSS {pss} MiB, overhead {measured} MiB")
    assert measured is not None and measured > 0, f"PSS {pss} MiB, overhead {measured}"
    reported = driver.host_resources()
    # at least what was measured (the guest may touch more meanwhile), never below the default
    assert reported.memory_overhead_mb >= max(measured, qemu_memory.DEFAULT_OVERHEAD_MB["tcg"])
    assert reported.memory_available_mb is not None and reported.memory_available_mb > 0
    node = node_reported(plane)  # a heartbeat carries the measurement to the scheduler
    assert node.memory_mb == CAP_MB
    assert node.memory_overhead_mb >= qemu_memory.DEFAULT_OVERHEAD_MB["tcg"]
    assert node.memory_available_mb is not None and node.memory_available_mb <= CAP_MB
    second = settled(plane, "second")
    assert second["status"] == "ERROR", second
    message = str(second["fault"]["message"])
    assert message.startswith("No valid host was found.") and "not enough memory" in message
    assert len(driver.list_instances()) == 1
