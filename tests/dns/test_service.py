"""The DNS service's own side: publishing to a backend that fails and catches up, and
the records the cloud keeps for its VMs (what the sink calls)."""

from __future__ import annotations

import pytest

from labs.dns.errors import DuplicateZone, InvalidObject, ZoneNotFound
from tests.dns.api_helpers import Dns, dns_fixture, error  # noqa: F401

FORWARD, REVERSE = "labs.test.", "68.10.in-addr.arpa."


def cloud_zones(dns: Dns) -> None:
    dns.service.ensure_cloud_zone(FORWARD, "hostmaster@labs.test", 300)
    dns.service.ensure_cloud_zone(REVERSE, "hostmaster@labs.test", 300)


def vm(name: str, project: str, address: str) -> list[tuple[str, str, str, str]]:
    last, third = address.split(".")[3], address.split(".")[2]
    return [(FORWARD, f"{name}.{project}.{FORWARD}", "A", address),
            (REVERSE, f"{last}.{third}.{REVERSE}", "PTR", f"{name}.{project}.{FORWARD}")]


def test_a_failed_push_stays_pending_until_a_sync(dns: Dns) -> None:
    dns.backend.failing = True
    zone = dns.zone("example.org.")
    assert dns.ok("GET", f"/zones/{zone['id']}")["status"] == "PENDING"
    rs = dns.recordset(zone["id"], "www.example.org.", "A", ["10.0.0.1"]).json()
    assert dns.service.sync(pending_only=True) == 1
    dns.backend.failing = False
    assert dns.service.sync(pending_only=True) == 0
    shown = dns.ok("GET", f"/zones/{zone['id']}")
    assert (shown["status"], shown["action"]) == ("ACTIVE", "NONE")
    assert dns.ok("GET", f"/zones/{zone['id']}/recordsets/{rs['id']}")["status"] == "ACTIVE"
    assert dns.backend.serial("example.org.") == shown["serial"]
    assert dns.backend.records("example.org.", "www.example.org.", "A") == ["10.0.0.1"]

    dns.backend.failing = True
    assert dns.ok("DELETE", f"/zones/{zone['id']}")["action"] == "DELETE"
    still = dns.ok("GET", f"/zones/{zone['id']}")
    assert (still["status"], still["action"]) == ("PENDING", "DELETE")
    error(dns.call("PATCH", f"/zones/{zone['id']}", json={"ttl": 60}), 400, "bad_request")
    dns.backend.failing = False
    assert dns.service.sync() == 0
    error(dns.call("GET", f"/zones/{zone['id']}"), 404, "zone_not_found")
    assert dns.backend.zone_names() == []


def test_sync_pushes_every_zone_to_a_backend_that_lost_them(dns: Dns) -> None:
    dns.zone("one.org.")
    dns.zone("two.org.", "bob")
    dns.backend.zones.clear()
    assert dns.service.sync() == 0
    assert dns.backend.zone_names() == ["one.org.", "two.org."]


def test_cloud_zones_belong_to_the_cloud(dns: Dns) -> None:
    first = dns.service.ensure_cloud_zone(FORWARD, "hostmaster@labs.test", 300)
    again = dns.service.ensure_cloud_zone("LABS.test.", "hostmaster@labs.test", 300)
    assert first.id == again.id and first.project_id == dns.projects["admin"]
    assert first.ttl == 300
    dns.zone("taken.org.", "bob")
    with pytest.raises(DuplicateZone):
        dns.service.ensure_cloud_zone("taken.org.", "hostmaster@labs.test", 300)
    # nobody else may make a zone inside the cloud's
    error(dns.call("POST", "/zones", "bob", json={"name": "b.labs.test.",
                                                  "email": "b@labs.test"}),
          403, "illegal_child")


def test_instance_records(dns: Dns) -> None:
    cloud_zones(dns)
    service = dns.service
    pushes = dns.backend.pushes
    service.set_instance_records("i-1", vm("web-1", "a", "10.68.0.2"))
    assert dns.backend.pushes == pushes + 2  # one push per zone touched
    assert dns.backend.records(FORWARD, "web-1.a.labs.test.", "A") == ["10.68.0.2"]
    assert dns.backend.records(REVERSE, "2.0.68.10.in-addr.arpa.", "PTR") == [
        "web-1.a.labs.test."]
    service.set_instance_records("i-2", vm("web-2", "a", "10.68.0.3"))
    # a second address under the same name shares the recordset
    service.set_instance_records("i-3", [(FORWARD, "web-1.a.labs.test.", "A", "10.68.0.9")])
    assert dns.backend.records(FORWARD, "web-1.a.labs.test.", "A") == ["10.68.0.2",
                                                                        "10.68.0.9"]
    assert service.managed_instance_ids() == {"i-1", "i-2", "i-3"}

    # the same records again change nothing and push nothing
    serial, pushes = dns.backend.serial(FORWARD), dns.backend.pushes
    service.set_instance_records("i-1", vm("web-1", "a", "10.68.0.2"))
    assert (dns.backend.serial(FORWARD), dns.backend.pushes) == (serial, pushes)

    # replacing touches only that instance's records
    service.set_instance_records("i-1", vm("web-1", "a", "10.68.0.4"))
    assert dns.backend.records(FORWARD, "web-1.a.labs.test.", "A") == ["10.68.0.4",
                                                                        "10.68.0.9"]
    assert dns.backend.records(REVERSE, "2.0.68.10.in-addr.arpa.", "PTR") == []
    assert dns.backend.records(REVERSE, "4.0.68.10.in-addr.arpa.", "PTR") == [
        "web-1.a.labs.test."]
    assert dns.backend.serial(FORWARD) is not None
    assert dns.backend.serial(FORWARD) > serial  # type: ignore[operator]

    service.remove_instance_records("i-1")
    service.remove_instance_records("i-3")
    service.remove_instance_records("i-gone")
    assert service.managed_instance_ids() == {"i-2"}
    forward = {(rs.name, rs.type) for rs in dns.backend.zones[FORWARD].recordsets}
    assert forward == {(FORWARD, "SOA"), (FORWARD, "NS"), ("web-2.a.labs.test.", "A")}
    names = [r["name"] for r in dns.rrsets(
        service.ensure_cloud_zone(FORWARD, "x@labs.test", 300).id, "admin")]
    assert "web-1.a.labs.test." not in names  # the emptied recordset is gone


def test_instance_records_are_checked(dns: Dns) -> None:
    cloud_zones(dns)
    with pytest.raises(ZoneNotFound):
        dns.service.set_instance_records("i-1", [("nowhere.test.", "a.nowhere.test.", "A",
                                                  "10.0.0.1")])
    with pytest.raises(InvalidObject):
        dns.service.set_instance_records("i-1", [(FORWARD, "a.labs.test.", "A", "10.0.0")])
    assert dns.service.managed_instance_ids() == set()


def test_managed_records_are_the_clouds(dns: Dns) -> None:
    cloud_zones(dns)
    dns.service.set_instance_records("i-1", vm("web-1", "a", "10.68.0.2"))
    zone_id = dns.service.ensure_cloud_zone(FORWARD, "x@labs.test", 300).id
    rs = next(r for r in dns.rrsets(zone_id, "admin") if r["type"] == "A")
    path = f"/zones/{zone_id}/recordsets/{rs['id']}"
    body = error(dns.call("PUT", path, "admin", json={"records": ["10.0.0.1"]}), 400,
                 "bad_request")
    assert body["message"] == "Managed records may not be updated"
    error(dns.call("DELETE", path, "admin"), 400, "bad_request")
    error(dns.call("DELETE", path, "alice", headers={
        "X-Designate-Edit-Managed-Records": "true"}), 403, "forbidden")
    assert dns.call("DELETE", path, "admin", headers={
        "X-Designate-Edit-Managed-Records": "true"}).status_code == 202
    assert dns.backend.records(FORWARD, "web-1.a.labs.test.", "A") == []


def test_managed_records_count_against_no_quota(dns: Dns) -> None:
    admin = dns.projects["admin"]
    dns.ok("PATCH", f"/quotas/{admin}", "admin", json={"zone_records": 3,
                                                        "recordset_records": 1})
    cloud_zones(dns)
    for i in range(5):
        dns.service.set_instance_records(f"i-{i}", [(FORWARD, "many.labs.test.", "A",
                                                     f"10.68.1.{i}")])
    assert len(dns.backend.records(FORWARD, "many.labs.test.", "A")) == 5
