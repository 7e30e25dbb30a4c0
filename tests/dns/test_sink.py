"""The sink: names for instances from compute's notifications, retries, reconciliation.

The target here is an in-memory stand-in for the DNS service (the service itself is
tested with it in the DNS API tests and end to end)."""

from __future__ import annotations

import logging
import threading
import uuid

import pytest

from labs.common.bus import connect
from labs.common.bus.messages import Notification
from labs.dns.sink import DnsSink, InstanceSource, LiveInstance, Naming, Record, SinkTarget
from labs.network.ports import port_id_of
from tests.common.bus_helpers import wait_for

NAMING = Naming.for_ranges("labs.internal", ["10.68.0.0/16"])


class MemoryTarget(SinkTarget):
    def __init__(self) -> None:
        self.zones: set[str] = set()
        self.records: dict[str, list[Record]] = {}
        self.failures = 0  # the next N calls fail
        self.lock = threading.Lock()

    def _maybe_fail(self) -> None:
        with self.lock:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("the DNS database is away")

    def ensure_cloud_zone(self, name: str, email: str, ttl: int) -> object:
        self.zones.add(name)
        return name

    def set_instance_records(self, instance_id: str, records: list[Record]) -> None:
        self._maybe_fail()
        assert all(zone in self.zones for zone, *_ in records)
        self.records[instance_id] = list(records)

    def remove_instance_records(self, instance_id: str) -> None:
        self._maybe_fail()
        self.records.pop(instance_id, None)

    def managed_instance_ids(self) -> set[str]:
        return set(self.records)

    def managed_records(self, *, instance_id: str | None = None, type_: str | None = None,
                        name: str | None = None, data: str | None = None
                        ) -> list[tuple[str, Record]]:
        return [(owner, r) for owner, records in sorted(self.records.items())
                for r in records if instance_id in (None, owner) and type_ in (None, r[2])
                and name in (None, r[1]) and data in (None, r[3])]


class MemoryInstances(InstanceSource):
    def __init__(self) -> None:
        self.live: dict[str, LiveInstance] = {}

    def live_instances(self) -> list[LiveInstance]:
        return list(self.live.values())


def vm(name: str, project: str = "bots", *addresses: str) -> LiveInstance:
    return LiveInstance(str(uuid.uuid4()), name, project, addresses or ("10.68.1.7",))


def create_end(instance: LiveInstance) -> Notification:
    return Notification("compute.instance.create.end", {
        "instance_id": instance.id, "hostname": instance.hostname,
        "project_name": instance.project_name, "tenant_id": "p" * 32,
        "fixed_ips": [{"address": a, "version": 4, "type": "fixed", "label": "lan",
                       "floating_ips": [], "meta": {}, "vif_mac": ""}
                      for a in instance.addresses]}, "compute.host-1")


def delete_start(instance: LiveInstance) -> Notification:
    return Notification("compute.instance.delete.start", {
        "instance_id": instance.id, "hostname": instance.hostname}, "compute.host-1")


def test_naming() -> None:
    assert NAMING.domain == "labs.internal."
    assert NAMING.reverse_zones == ("68.10.in-addr.arpa.",)
    assert Naming.for_ranges("Labs.Internal.", ["10.68.4.0/22"]).reverse_zones == (
        "68.10.in-addr.arpa.",)
    web = LiveInstance("i-1", "web-1", "Bot Tools", ("10.68.1.7", "fd00::7"))
    assert NAMING.records(web) == [
        ("labs.internal.", "web-1.bot-tools.labs.internal.", "A", "10.68.1.7"),
        ("68.10.in-addr.arpa.", "7.1.68.10.in-addr.arpa.", "PTR",
         "web-1.bot-tools.labs.internal.")]
    outside = LiveInstance("i-2", "db", "bots", ("192.168.1.2",))
    assert NAMING.records(outside) == [  # no reverse zone holds it: the A record only
        ("labs.internal.", "db.bots.labs.internal.", "A", "192.168.1.2")]
    assert NAMING.records(LiveInstance("i-3", "db", "", ("10.68.1.2",))) == []


def test_notifications_name_and_unname_instances() -> None:
    target = MemoryTarget()
    sink = DnsSink(target, MemoryInstances(), NAMING, retry_seconds=0.01)
    sink.ensure_zones()
    web = vm("web-1")
    sink.on_notification(create_end(web))
    assert target.records[web.id] == NAMING.records(web)
    sink.on_notification(delete_start(web))
    assert web.id not in target.records


def test_failures_are_retried_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    target = MemoryTarget()
    sink = DnsSink(target, MemoryInstances(), NAMING, retry_seconds=0.01, max_retries=4)
    sink.ensure_zones()
    target.failures = 2
    web = vm("web-1")
    with caplog.at_level(logging.WARNING, logger="labs.dns.sink"):
        sink.on_notification(create_end(web))
    assert web.id in target.records
    assert caplog.text.count("failed (attempt") == 2
    target.failures = 10
    with caplog.at_level(logging.WARNING, logger="labs.dns.sink"):
        sink.on_notification(delete_start(web))
    assert "gave up" in caplog.text and web.id in target.records  # the reconciler's job


def test_reconciler_converges_on_the_live_instances() -> None:
    target, instances = MemoryTarget(), MemoryInstances()
    sink = DnsSink(target, instances, NAMING)
    sink.ensure_zones()
    kept = [vm(f"kept-{i}", "bots", f"10.68.1.{i + 10}") for i in range(10)]
    gone = [vm(f"gone-{i}", "bots", f"10.68.1.{i + 30}") for i in range(10)]
    for instance in gone[:5] + kept[:3]:  # named before the DNS service went away
        target.records[instance.id] = NAMING.records(instance)
    instances.live = {i.id: i for i in kept}
    assert sink.reconcile() == (7, 5)
    assert target.records == {i.id: NAMING.records(i) for i in kept}
    assert sink.reconcile() == (0, 0)


def test_the_sink_follows_the_bus_and_reconciles_in_the_background() -> None:
    target, instances = MemoryTarget(), MemoryInstances()
    sink = DnsSink(target, instances, NAMING, reconcile_seconds=0.2)
    bus = connect("memory://", namespace=f"sink{uuid.uuid4().hex[:8]}")
    sink.subscribe(bus)
    web, stray = vm("web-1"), vm("stray", "bots", "10.68.1.99")
    instances.live = {web.id: web}
    target.records[stray.id] = NAMING.records(stray)  # its instance is gone
    with bus:
        sink.start()
        try:
            wait_for(lambda: stray.id not in target.records and web.id in target.records,
                     5, "the first reconciliation", interval=0.02)
            other = vm("db-1", "bots", "10.68.1.8")
            bus.notify("compute.instance.create.end", create_end(other).payload,
                       publisher_id="compute.host-1")
            wait_for(lambda: other.id in target.records, 5, "db-1 named", interval=0.02)
            bus.notify("compute.instance.delete.start", delete_start(other).payload,
                       publisher_id="compute.host-1")
            wait_for(lambda: other.id not in target.records, 5, "db-1 unnamed",
                     interval=0.02)
        finally:
            sink.stop()


def test_a_floating_ip_is_named_and_kept_when_the_creation_comes_again() -> None:
    naming = Naming.for_ranges("labs.internal", ["10.68.0.0/16"], floating=["172.24.4.0/24"])
    target = MemoryTarget()
    sink = DnsSink(target, MemoryInstances(), naming)
    sink.ensure_zones()
    web = vm("web", "bots", "10.68.1.7")
    sink.on_notification(create_end(web))
    fip = {"floating_ip_address": "172.24.4.9", "port_id": port_id_of(web.id),
           "fixed_ip_address": "10.68.1.7"}
    sink.on_notification(Notification("floatingip.update.end", {"floatingip": fip},
                                      "network.host-1"))
    ptr = ("4.24.172.in-addr.arpa.", "9.4.24.172.in-addr.arpa.", "PTR",
           "web.bots.labs.internal.")
    assert ptr in target.records[web.id]
    sink.on_notification(create_end(web))  # delivered again (at least once)
    assert ptr in target.records[web.id]
    assert sorted(target.records[web.id]) == sorted([*naming.records(web), ptr])
    sink.on_notification(Notification("floatingip.delete.end", {
        "floatingip_id": "f", "floatingip": fip}, "network.host-1"))
    assert target.records[web.id] == naming.records(web)
    assert naming.reverse_zones == ("68.10.in-addr.arpa.", "4.24.172.in-addr.arpa.")


def test_a_floating_ip_names_the_instance_behind_its_port_not_another_projects() -> None:
    """Ranges overlap between networks: another project's instance at the same fixed
    address (named first, or alone) never gets the floating IP's PTR record."""
    naming = Naming.for_ranges("labs.internal", ["10.68.0.0/16"], floating=["172.24.4.0/24"])
    target = MemoryTarget()
    sink = DnsSink(target, MemoryInstances(), naming)
    sink.ensure_zones()
    theirs = LiveInstance("0-theirs", "secret-db", "payroll", ("192.168.0.5",))
    ours = LiveInstance("1-ours", "web", "bots", ("192.168.0.5",))
    fip = {"floating_ip_address": "172.24.4.9", "port_id": port_id_of(ours.id),
           "fixed_ip_address": "192.168.0.5"}
    update = Notification("floatingip.update.end", {"floatingip": fip}, "network.host-1")
    sink.on_notification(create_end(theirs))  # ours is not named yet
    sink.on_notification(update)
    assert target.records[theirs.id] == naming.records(theirs)
    sink.on_notification(create_end(ours))
    sink.on_notification(update)
    ptr = ("4.24.172.in-addr.arpa.", "9.4.24.172.in-addr.arpa.", "PTR",
           "web.bots.labs.internal.")
    assert target.records[theirs.id] == naming.records(theirs)
    assert ptr in target.records[ours.id]
