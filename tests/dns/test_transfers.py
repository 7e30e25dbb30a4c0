"""Zone transfers between projects in-process, on SQLite and MariaDB: requests and
their keys, accepting (the zone and its recordsets move), protection, bad input, and two
accepts racing for one request."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from tests.dns.api_helpers import Dns, dns_fixture, error  # noqa: F401

REQUESTS = "/zones/tasks/transfer_requests"
ACCEPTS = "/zones/tasks/transfer_accepts"


def offer(dns: Dns, zone_id: str, who: str = "alice", **body: Any) -> dict[str, Any]:
    resp = dns.call("POST", f"/zones/{zone_id}/tasks/transfer_requests", who, json=body)
    assert resp.status_code == 201, resp.text
    made: dict[str, Any] = resp.json()
    return made


def test_transfer_moves_the_zone_and_its_recordsets(dns: Dns) -> None:
    zone = dns.zone("moving.org.", description="to b")
    assert dns.recordset(zone["id"], "www.moving.org.", "A", ["192.0.2.1"]).status_code == 202
    request = offer(dns, zone["id"], target_project_id=dns.projects["b"],
                    description="for bob")
    assert request["status"] == "ACTIVE" and request["zone_name"] == "moving.org."
    assert request["target_project_id"] == dns.projects["b"]
    assert request["project_id"] == dns.projects["a"] and len(request["key"]) == 16
    # the target sees the request but not its key; others see nothing
    seen = dns.ok("GET", f"{REQUESTS}/{request['id']}", "bob")
    assert seen["key"] is None and seen["zone_id"] == zone["id"]
    assert [r["id"] for r in dns.ok("GET", REQUESTS, "bob")["transfer_requests"]] == [
        request["id"]]
    assert dns.ok("GET", f"{REQUESTS}/{request['id']}")["key"] == request["key"]
    # only the owner changes it
    error(dns.call("PATCH", f"{REQUESTS}/{request['id']}", "bob", json={"description": "x"}),
          404, "zone_transfer_request_not_found")
    error(dns.call("PATCH", f"{REQUESTS}/{request['id']}", "ann", json={"description": "x"}),
          403, "forbidden")
    changed = dns.ok("PATCH", f"{REQUESTS}/{request['id']}", json={"description": "later"})
    assert changed["description"] == "later"

    error(dns.call("POST", ACCEPTS, "bob", json={"key": "WRONGKEY", "zone_transfer_request_id":
                                                 request["id"]}), 403, "invalid_key")
    resp = dns.call("POST", ACCEPTS, "bob", json={"key": request["key"],
                                                  "zone_transfer_request_id": request["id"]})
    assert resp.status_code == 201, resp.text
    accept = resp.json()
    assert accept["status"] == "COMPLETE" and accept["zone_id"] == zone["id"]
    assert accept["project_id"] == dns.projects["b"]
    assert accept["zone_transfer_request_id"] == request["id"]
    moved = dns.ok("GET", f"/zones/{zone['id']}", "bob")
    assert moved["project_id"] == dns.projects["b"] and moved["transferred_at"]
    assert moved["serial"] > zone["serial"]
    assert {rs["project_id"] for rs in dns.rrsets(zone["id"], "bob")} == {dns.projects["b"]}
    error(dns.call("GET", f"/zones/{zone['id']}"), 404, "zone_not_found")
    assert dns.ok("GET", f"{REQUESTS}/{request['id']}")["status"] == "COMPLETE"
    assert dns.ok("GET", f"{ACCEPTS}/{accept['id']}", "bob") == accept
    assert [a["id"] for a in dns.ok("GET", ACCEPTS, "bob")["transfer_accepts"]] == [
        accept["id"]]
    error(dns.call("GET", f"{ACCEPTS}/{accept['id']}"), 404, "zone_transfer_accept_not_found")
    # accepted once: not again
    error(dns.call("POST", ACCEPTS, "bob", json={"key": request["key"],
                                                 "zone_transfer_request_id": request["id"]}),
          400, "bad_request")


def test_who_may_offer_and_accept(dns: Dns) -> None:
    zone = dns.zone("offered.org.")
    error(dns.call("POST", f"/zones/{zone['id']}/tasks/transfer_requests", "bob", json={}),
          404, "zone_not_found")
    error(dns.call("POST", f"/zones/{zone['id']}/tasks/transfer_requests", "ann", json={}),
          403, "forbidden")
    request = offer(dns, zone["id"], target_project_id=dns.projects["admin"])
    error(dns.call("POST", f"/zones/{zone['id']}/tasks/transfer_requests", json={}),
          400, "duplicate_zone_transfer_request")
    body = {"key": request["key"], "zone_transfer_request_id": request["id"]}
    # offered to admin's project: b may neither see nor take it, even with the key
    error(dns.call("GET", f"{REQUESTS}/{request['id']}", "bob"), 404,
          "zone_transfer_request_not_found")
    error(dns.call("POST", ACCEPTS, "bob", json=body), 404, "zone_transfer_request_not_found")
    error(dns.call("POST", ACCEPTS, "ann", json=body), 403, "forbidden")
    assert dns.ok("GET", f"/zones/{zone['id']}")["project_id"] == dns.projects["a"]
    # open to any project: b sees it (no key) and may take it
    dns.ok("PATCH", f"{REQUESTS}/{request['id']}", json={"target_project_id": None})
    assert dns.ok("GET", f"{REQUESTS}/{request['id']}", "bob")["key"] is None
    assert dns.ok("GET", REQUESTS, "bob")["transfer_requests"] == []  # listed: not its own
    error(dns.call("DELETE", f"{REQUESTS}/{request['id']}", "bob"), 404,
          "zone_transfer_request_not_found")
    assert dns.call("DELETE", f"{REQUESTS}/{request['id']}").status_code == 204
    error(dns.call("POST", ACCEPTS, "bob", json=body), 404, "zone_transfer_request_not_found")


def test_accepting_counts_against_the_accepters_quota(dns: Dns) -> None:
    zone = dns.zone("quota.org.")
    request = offer(dns, zone["id"])
    dns.ok("PATCH", f"/quotas/{dns.projects['b']}", "admin", json={"zones": 0})
    error(dns.call("POST", ACCEPTS, "bob", json={"key": request["key"],
                                                 "zone_transfer_request_id": request["id"]}),
          413, "over_quota")
    assert dns.ok("GET", f"/zones/{zone['id']}")["project_id"] == dns.projects["a"]
    assert dns.ok("GET", f"{REQUESTS}/{request['id']}")["status"] == "ACTIVE"


def test_transfer_bad_input(dns: Dns) -> None:
    zone = dns.zone("bad.org.")
    for body in ({"target_project_id": 5}, {"key": "x"}, {"description": "d" * 161}, []):
        error(dns.call("POST", f"/zones/{zone['id']}/tasks/transfer_requests", json=body),
              400, "invalid_object")
    error(dns.call("POST", f"/zones/{zone['id']}/tasks/transfer_requests",
                   json={"target_project_id": dns.projects["a"]}), 400, "bad_request")
    for body in ({}, {"key": "k"}, {"zone_transfer_request_id": "x"},
                 {"key": 1, "zone_transfer_request_id": "x"}):
        error(dns.call("POST", ACCEPTS, "bob", json=body), 400, "invalid_object")
    error(dns.call("POST", ACCEPTS, "bob", json={"key": "k", "zone_transfer_request_id": "no"}),
          404, "zone_transfer_request_not_found")
    error(dns.call("GET", f"{REQUESTS}?sort_key=key"), 400, "invalid_sort_key")
    # the cloud's zones, holding records of VMs, do not move
    dns.service.ensure_cloud_zone("labs.internal.", "hm@labs.internal", 300)
    dns.service.set_instance_records("vm-1", [("labs.internal.", "vm.labs.internal.", "A",
                                               "10.0.0.5")])
    cloud_zone = dns.ok("GET", "/zones", "admin", params={"name": "labs.internal."})["zones"][0]
    error(dns.call("POST", f"/zones/{cloud_zone['id']}/tasks/transfer_requests", "admin",
                   json={}), 400, "bad_request")


def test_two_accepts_of_one_request_one_wins(dns: Dns) -> None:
    zone = dns.zone("race.org.")
    request = offer(dns, zone["id"])
    body = {"key": request["key"], "zone_transfer_request_id": request["id"]}
    whom = ["bob", "admin"] * 3
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda who: dns.call("POST", ACCEPTS, who, json=body), whom))
    codes = sorted(r.status_code for r in replies)
    assert codes == [201, 400, 400, 400, 400, 400], [r.text for r in replies]
    winner = next(r.json() for r in replies if r.status_code == 201)
    owner = dns.ok("GET", f"/zones/{zone['id']}", "admin",
                   headers={"X-Auth-All-Projects": "true"})["project_id"]
    assert owner == winner["project_id"] != dns.projects["a"]
    accepts = dns.ok("GET", ACCEPTS, "admin", headers={"X-Auth-All-Projects": "true"})
    assert accepts["metadata"]["total_count"] == 1


def test_a_shared_zone_is_not_transferred(dns: Dns) -> None:
    """Its shares were its owner's to grant: the accepter would inherit them unasked."""
    zone = dns.zone("sharing.org.")
    dns.ok("POST", f"/zones/{zone['id']}/shares", json={"target_project_id": dns.projects["b"]})
    request = offer(dns, zone["id"])
    error(dns.call("POST", ACCEPTS, "bob", json={"key": request["key"],
                                                 "zone_transfer_request_id": request["id"]}),
          400, "bad_request")
    assert dns.ok("GET", f"/zones/{zone['id']}")["project_id"] == dns.projects["a"]
    assert dns.ok("GET", f"{REQUESTS}/{request['id']}")["status"] == "ACTIVE"
