"""The sink's reconciler learns the live instances from compute's conductor over the bus:
a real compute control plane (API, conductor, scheduler, a fake agent) and the sink on a
bus of its own, as in its own process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.common.bus import InProcessBus
from labs.compute.agent.metadata import ConductorMetadataSource
from labs.compute.rpcapi import ConductorAPI
from labs.dns.instances import ConductorInstances
from labs.dns.sink import DnsSink, InstanceSource, LiveInstance
from labs.network.agent.metadata.formats import meta_data
from tests.common.bus_helpers import wait_for
from tests.compute.conftest import PEOPLE, Plane, make_plane
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


def test_a_project_named_as_keystone_names_it_serves_its_label(
        plane: Plane, instances: ConductorInstances, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server of ``Tempest-Proj.1`` is ``web.tempest-proj-1.<domain>``: in what the
    metadata service tells it and in the records the sink makes."""
    project = plane.cloud.project("Tempest-Proj.1")
    plane.cloud.user("carol", "pw", {"Tempest-Proj.1": "member"})
    monkeypatch.setitem(PEOPLE, "carol", ("pw", "Tempest-Proj.1", "member"))
    web = plane.create(who="carol", name="web", networks="auto")
    assert web["tenant_id"] == project
    live = [i for i in instances.live_instances() if i.id == web["id"]]
    assert [(i.hostname, i.project_name) for i in live] == [("web", "tempest-proj-1")]

    address = web["addresses"]["lan"][0]["addr"]
    network_id = plane.client.get(
        f"/network/v2.0/ports?device_id={web['id']}",
        headers={"X-Auth-Token": plane.token("carol")}).json()["ports"][0]["network_id"]
    metadata = ConductorMetadataSource(instances.conductor).instance_for(network_id, address)
    assert metadata is not None and metadata.fqdn == "web.tempest-proj-1.labs.internal"
    assert meta_data(metadata)["meta"]["project_name"] == "tempest-proj-1"

    target = MemoryTarget()
    sink = DnsSink(target, instances, NAMING)
    sink.ensure_zones()
    sink.reconcile()
    assert ("labs.internal.", "web.tempest-proj-1.labs.internal.", "A", address) in \
        target.records[web["id"]]
    # a rename of the project changes neither its label nor its servers' names
    plane.cloud.identity.resources.update_project(project, {"name": "Renamed Project"})
    assert plane.cloud.identity.resources.label_of(project) == "tempest-proj-1"
    other = plane.create(who="carol", name="db", networks="auto")
    assert [i.project_name for i in instances.live_instances() if i.id == other["id"]] == [
        "tempest-proj-1"]


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
