"""Pools and service statuses (admins): the default pool as Designate shows it, zones in
it, and the statuses the DNS service's parts report on their heartbeats."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from labs.dns import models
from labs.dns.statuses import Heartbeat
from labs.dns.zones import POOL_ID, utcnow
from tests.dns.api_helpers import NAMESERVERS, V2, Dns, dns_fixture, error  # noqa: F401


def test_the_default_pool(dns: Dns) -> None:
    zone = dns.zone("pooled.org.")
    assert zone["pool_id"] == POOL_ID
    pools = dns.ok("GET", "/pools", "admin")
    assert pools["metadata"] == {"total_count": 1}
    pool = pools["pools"][0]
    assert pool["id"] == POOL_ID and pool["name"] == "default"
    assert pool["attributes"] == {} and pool["created_at"] is not None
    assert pool["ns_records"] == [{"hostname": NAMESERVERS[0], "priority": 1},
                                  {"hostname": NAMESERVERS[1], "priority": 2}]
    assert pool["links"]["self"] == f"http://testserver{V2}/pools/{POOL_ID}"
    assert dns.ok("GET", f"/pools/{POOL_ID}", "admin") == pool
    assert dns.ok("GET", "/pools", "admin", params={"name": "other"})["pools"] == []
    error(dns.call("GET", "/pools/nope", "admin"), 404, "pool_not_found")
    error(dns.call("GET", "/pools", "admin", params={"marker": "nope"}), 400,
          "marker_not_found")
    for who in ("alice", "ann", "amy", "bob"):
        error(dns.call("GET", "/pools", who), 403, "forbidden")
        error(dns.call("GET", f"/pools/{POOL_ID}", who), 403, "forbidden")


def test_service_statuses_come_from_heartbeats(dns: Dns) -> None:
    assert dns.ok("GET", "/service_statuses", "admin")["service_statuses"] == []
    state = {"sink": ("UP", {}, {})}

    def server() -> tuple[str, dict, dict]:
        return "UP", dict(dns.backend.probe()), {"backend": dns.backend.name}

    def broken() -> tuple[str, dict, dict]:
        raise OSError("no answer")

    beats = Heartbeat(dns.service.statuses, {"server": server, "sink": lambda: state["sink"],
                                             "publisher": broken}, hostname="host1")
    beats.beat()
    listed = dns.ok("GET", "/service_statuses", "admin")["service_statuses"]
    by_name = {s["service_name"]: s for s in listed}
    assert {n: s["status"] for n, s in by_name.items()} == {
        "server": "UP", "sink": "UP", "publisher": "DOWN"}
    assert by_name["server"]["stats"] == {"zones": 0}
    assert by_name["server"]["capabilities"] == {"backend": "memory"}
    assert by_name["publisher"]["stats"] == {"error": "no answer"}
    assert all(s["hostname"] == "host1" and s["heartbeated_at"] for s in listed)
    shown = dns.ok("GET", f"/service_statuses/{by_name['sink']['id']}", "admin")
    assert shown == by_name["sink"]
    assert [s["service_name"] for s in dns.ok("GET", "/service_statuses", "admin", params={
        "service_name": "sink"})["service_statuses"]] == ["sink"]
    # a part that reports trouble, then one that stops reporting
    state["sink"] = ("WARNING", {"error": "conductor unreachable"}, {})
    beats.beat()
    assert dns.ok("GET", f"/service_statuses/{shown['id']}", "admin")["status"] == "WARNING"
    with dns.service.db.transaction() as tx:
        tx.execute(sa.update(models.ServiceStatus).where(models.ServiceStatus.id == shown["id"])
                   .values(heartbeated_at=utcnow() - timedelta(seconds=31)))
    assert dns.ok("GET", f"/service_statuses/{shown['id']}", "admin")["status"] == "DOWN"
    assert sorted(s["service_name"] for s in dns.ok("GET", "/service_statuses", "admin",
                  params={"status": "DOWN"})["service_statuses"]) == ["publisher", "sink"]
    error(dns.call("GET", "/service_statuses/nope", "admin"), 404,
          "service_status_not_found")
    error(dns.call("GET", "/service_statuses", "admin", params={"colour": "x"}), 400,
          "bad_request")
    for who in ("alice", "ann", "amy", "bob"):
        error(dns.call("GET", "/service_statuses", who), 403, "forbidden")
        error(dns.call("GET", f"/service_statuses/{shown['id']}", who), 403, "forbidden")
