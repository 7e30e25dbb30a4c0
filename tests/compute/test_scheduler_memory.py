"""What a VM really costs a host's memory: the host's reserve, each instance's overhead
and the memory the host really has available, in the scheduler's filter and its claim."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from labs.compute import models
from labs.compute.agent.resources import host_report
from labs.compute.scheduler.config import SchedulerOptions
from labs.compute.scheduler.engine import Scheduler
from labs.compute.scheduler.filters import RamFilter
from labs.compute.virt.fake import FakeDriver
from tests.compute.conftest import Plane, make_plane
from tests.compute.test_scheduler import make_host, make_spec
from tests.conftest import Cloud

NANO = 128  # g1.nano, flavor "6"


def fits(**host: object) -> bool:
    spec_memory = int(str(host.pop("spec_memory_mb", 512)))
    return RamFilter().host_passes(make_host(**host), make_spec(memory_mb=spec_memory))


def test_the_reserve_is_never_given_to_instances() -> None:
    assert fits(memory_mb=1024, reserved_memory_mb=512)
    assert not fits(memory_mb=1024, reserved_memory_mb=512, memory_mb_used=1)
    assert fits(memory_mb=1024, reserved_memory_mb=0, memory_mb_used=512)


def test_each_instance_costs_its_overhead_too() -> None:
    # 3 instances of 128 MiB, 100 MiB overhead each: 1024 - 384 - 300 = 340 free
    host = {"memory_mb": 1024, "memory_mb_used": 384, "instances": 3,
            "memory_overhead_mb": 100}
    assert make_host(**host).free_memory_mb == 340
    assert fits(**host, spec_memory_mb=240)  # 240 + 100 = 340
    assert not fits(**host, spec_memory_mb=241)


def test_a_host_refuses_what_its_available_memory_cannot_hold() -> None:
    roomy = {"memory_mb": 16384, "memory_overhead_mb": 90}
    assert fits(**roomy, memory_available_mb=602)  # 512 + 90
    assert not fits(**roomy, memory_available_mb=601)
    assert not fits(**roomy, memory_available_mb=700, reserved_memory_mb=100)
    assert fits(**roomy, memory_available_mb=None)  # not reported: accounting only


def test_several_placements_in_one_pass_count_overhead_and_available_memory() -> None:
    scheduler = Scheduler.from_options(SchedulerOptions())
    # what an idle g1.nano costs under TCG: ~215 MiB PSS, i.e. 128 + ~90
    host = make_host("h1", vcpus=64, memory_mb=24576, reserved_memory_mb=512,
                     memory_overhead_mb=90, cpu_allocation_ratio=16.0)
    placed = 0
    spec = make_spec(vcpus=1, memory_mb=NANO, disk_gb=0)
    while scheduler.candidates([host], spec):
        host.consume(spec)
        placed += 1
    assert placed == (24576 - 512) // (NANO + 90) == 110  # not 192
    tight = make_host("h2", memory_mb=24576, memory_overhead_mb=90, memory_available_mb=1000)
    placed = 0
    while scheduler.candidates([tight], spec):
        tight.consume(spec)
        placed += 1
    assert placed == 1000 // (NANO + 90) == 4
    assert tight.memory_available_mb == 1000 - 4 * (NANO + 90)


def test_the_refusal_says_memory() -> None:
    scheduler = Scheduler.from_options(SchedulerOptions())
    hosts = [make_host("a", memory_available_mb=100), make_host("b", memory_available_mb=10)]
    message = scheduler.explain(hosts, make_spec())
    assert message.startswith("No valid host was found. ")
    assert "ram (not enough memory): 2 -> 0" in message


def test_the_agent_reports_reserve_cap_and_the_drivers_memory(tmp_path: Path) -> None:
    driver = FakeDriver(tmp_path, "h1", memory_mb=4096, memory_overhead_mb=50,
                        memory_available_mb=3000)
    report = host_report(driver, reserved_memory_mb=256, memory_cap_mb=2048)
    assert (report["memory_mb"], report["memory_available_mb"], report["memory_overhead_mb"],
            report["reserved_memory_mb"]) == (2048, 2048, 50, 256)
    assert host_report(driver)["memory_mb"] == 4096


# --- through the whole control plane, with fake agents --------------------------------

@pytest.fixture
def plane(cloud: Cloud, tmp_path: Path) -> Iterator[Plane]:
    yield from make_plane(cloud, tmp_path, hosts=())


def nano(plane: Plane, name: str) -> dict[str, object]:
    created = plane.create(name=name, flavorRef="6", wait=None)
    for _ in range(400):
        shown = plane.show(str(created["id"]))
        if shown["status"] in ("ACTIVE", "ERROR"):
            return shown
        time.sleep(0.05)
    raise AssertionError(f"{name} neither ACTIVE nor ERROR: {shown}")


def test_the_overhead_and_reserve_an_agent_reports_limit_its_host(plane: Plane) -> None:
    plane.add_agent("h1", memory_mb=1024, reserved_memory_mb=256, memory_overhead_mb=90)
    # (1024 - 256) // (128 + 90) = 3, where the guests' memory alone would allow 8
    shown = [nano(plane, f"vm-{n}") for n in range(4)]
    assert [s["status"] for s in shown] == ["ACTIVE"] * 3 + ["ERROR"]
    fault = str(shown[3]["fault"]["message"])  # type: ignore[index]
    assert fault.startswith("No valid host was found.") and "not enough memory" in fault
    with plane.service.db.reading() as tx:
        node = tx.scalars(sa.select(models.ComputeNode)).one()
        assert (node.reserved_memory_mb, node.memory_overhead_mb) == (256, 90)


def reported_available_mb(plane: Plane, expected: int) -> int | None:
    """The node's reported MemAvailable once a heartbeat has brought `expected` (bounded
    wait: heartbeats come every second, later on a loaded machine)."""
    available = None
    for _ in range(200):
        with plane.service.db.reading() as tx:
            available = tx.scalars(sa.select(models.ComputeNode)).one().memory_available_mb
        if available == expected:
            break
        time.sleep(0.1)
    return available


def test_a_host_short_of_available_memory_refuses_until_memory_is_freed(
        plane: Plane) -> None:
    plane.add_agent("h1", memory_available_mb=500, memory_overhead_mb=90)
    first, second, third = (nano(plane, f"vm-{n}") for n in range(3))
    assert [s["status"] for s in (first, second, third)] == ["ACTIVE", "ACTIVE", "ERROR"]
    assert "not enough memory" in str(third["fault"])
    # heartbeats report the memory the two servers now hold
    assert reported_available_mb(plane, 500 - 2 * (NANO + 90)) == 500 - 2 * (NANO + 90)
    assert nano(plane, "vm-3")["status"] == "ERROR"
    plane.ok("DELETE", f"/servers/{first['id']}")
    plane.wait_gone(str(first["id"]))
    assert reported_available_mb(plane, 500 - (NANO + 90)) == 500 - (NANO + 90)
    assert nano(plane, "vm-4")["status"] == "ACTIVE"


def test_reports_of_older_agents_lack_the_memory_figures(plane: Plane) -> None:
    old = {"hypervisor_hostname": "old", "hypervisor_type": "fake", "hypervisor_version": 1,
           "host_ip": "127.0.0.1", "vcpus": 4, "memory_mb": 2048, "disk_gb": 10}
    plane.conductor.register_agent("old", "nova", old)
    plane.conductor.heartbeat("old", "nova-compute")
    with plane.service.db.reading() as tx:
        node = tx.scalars(sa.select(models.ComputeNode)
                          .where(models.ComputeNode.host == "old")).one()
        assert (node.memory_mb, node.reserved_memory_mb, node.memory_overhead_mb,
                node.memory_available_mb) == (2048, 0, 0, None)
    plane.conductor.heartbeat("old", "nova-compute", {**old, "memory_overhead_mb": 30,
                                                      "memory_available_mb": 900})
    with plane.service.db.reading() as tx:
        node = tx.scalars(sa.select(models.ComputeNode)
                          .where(models.ComputeNode.host == "old")).one()
        assert (node.memory_overhead_mb, node.memory_available_mb) == (30, 900)
        assert node.memory_reported_at is not None


def test_placements_the_report_does_not_count_are_taken_off_it() -> None:
    from labs.compute.scheduler.manager import _available

    node = models.ComputeNode(memory_available_mb=1000, memory_overhead_mb=90,
                              counted_instances=1, counted_memory_mb=NANO)
    # two placed, one counted by the agent (the other claimed before the report but not
    # yet built there): its memory and overhead are taken off, whenever it was placed
    assert _available(node, (2 * NANO, 2), since=(0, 0)) == 1000 - (NANO + 90)
    assert _available(node, (NANO, 1), since=(0, 0)) == 1000
    # an agent that counts what it is tearing down still owes nothing for it
    assert _available(node, (0, 0), since=(0, 0)) == 1000
    older = models.ComputeNode(memory_available_mb=1000, memory_overhead_mb=90)
    assert _available(older, (2 * NANO, 2), since=(NANO, 1)) == 1000 - (NANO + 90)
    assert _available(models.ComputeNode(), (NANO, 1), since=(0, 0)) is None
