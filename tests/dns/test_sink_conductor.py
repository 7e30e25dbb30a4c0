"""The sink's reconciler learns the live instances from compute's conductor over the bus:
a real compute control plane (API, conductor, scheduler, a fake agent) and the sink on a
bus of its own, as in its own process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.common.bus import InProcessBus
from labs.compute.rpcapi import ConductorAPI
from labs.dns.instances import ConductorInstances
from labs.dns.sink import DnsSink, InstanceSource, LiveInstance
from tests.common.bus_helpers import wait_for
from tests.compute.conftest import Plane, make_plane
from tests.conftest import Cloud
from tests.dns.test_sink import NAMING, MemoryTarget, vm


@pytest.fixture
def plane(cloud: Cloud, tmp_path: Path) -> Iterator[Plane]:
    yield from make_plane(cloud, tmp_path, hosts=("h1",))


@pytest.fixture
def instances(plane: Plane) -> Iterator[ConductorInstances]:
    """The sink's instance source, on its own bus."""
    bus = InProcessBus(plane.namespace, publisher_id="dns.sink")
    with bus:
        yield ConductorInstances(ConductorAPI(bus))


def test_the_conductor_lists_the_live_instances(plane: Plane,
                                                instances: ConductorInstances) -> None:
    web = plane.create(name="web", networks="auto")
    plane.create(name="offline")  # networks: none, so no address and no name
    assert instances.live_instances() == [LiveInstance(
        web["id"], "web", "a", (web["addresses"]["lan"][0]["addr"],))]


def test_the_reconciler_converges_through_the_conductor(plane: Plane,
                                                        instances: ConductorInstances) -> None:
    servers = [plane.create(name=f"web-{i}", networks="auto") for i in range(3)]
    plane.create(who="bob", name="db", networks="auto")
    target = MemoryTarget()
    stray = vm("stray", "a", "10.68.1.99")
    target.records[stray.id] = NAMING.records(stray)  # its instance is gone
    sink = DnsSink(target, instances, NAMING)
    sink.ensure_zones()

    assert sink.reconcile() == (4, 1)
    live = {i.id: i for i in instances.live_instances()}
    assert target.records == {iid: NAMING.records(i) for iid, i in live.items()}
    names = {r[1] for records in target.records.values() for r in records if r[2] == "A"}
    assert names == {"web-0.a.labs.internal.", "web-1.a.labs.internal.",
                     "web-2.a.labs.internal.", "db.b.labs.internal."}

    plane.ok("DELETE", f"/servers/{servers[0]['id']}")
    plane.wait_gone(servers[0]["id"])
    assert sink.reconcile() == (0, 1)
    assert servers[0]["id"] not in target.records
    assert sink.reconcile() == (0, 0)


class LateInstances(InstanceSource):
    """Fails as a conductor that is not up yet does, `failures` times."""

    def __init__(self, failures: int, live: list[LiveInstance]) -> None:
        self.failures, self.live = failures, live

    def live_instances(self) -> list[LiveInstance]:
        if self.failures:
            self.failures -= 1
            raise TimeoutError("no reply to 'list_live_instances'")
        return self.live


def test_the_reconciler_asks_again_soon_while_compute_does_not_answer() -> None:
    web = vm(f"web-{uuid.uuid4().hex[:4]}")
    target = MemoryTarget()
    sink = DnsSink(target, LateInstances(3, [web]), NAMING, reconcile_seconds=60,
                   retry_seconds=0.01)
    sink.start()
    try:
        wait_for(lambda: web.id in target.records, 5, "the first reconciliation",
                 interval=0.02)
    finally:
        sink.stop()
