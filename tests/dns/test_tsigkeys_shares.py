"""TSIG keys (``/v2/tsigkeys``, admins only) and zone shares (``/v2/zones/<id>/shares``):
who may call them, bad bodies, and a shared zone taking the target project's recordsets."""

from __future__ import annotations

import uuid

from tests.dns.api_helpers import V2, Dns, dns_fixture, error  # noqa: F401

POOL = str(uuid.uuid4())
KEY = {"name": "transfer", "algorithm": "hmac-sha256", "secret": "c2VjcmV0",
       "scope": "POOL", "resource_id": POOL}
TSIG_ROUTES = (("GET", "/tsigkeys"), ("POST", "/tsigkeys"), ("GET", "/tsigkeys/{id}"),
               ("PATCH", "/tsigkeys/{id}"), ("DELETE", "/tsigkeys/{id}"))


def test_tsigkeys_are_for_admins(dns: Dns) -> None:
    made = dns.ok("POST", "/tsigkeys", "admin", json=KEY)
    assert {k: made[k] for k in KEY} == KEY
    assert made["links"]["self"].endswith(f"{V2}/tsigkeys/{made['id']}")
    for who in ("alice", "ann", "amy", "bob"):
        for method, path in TSIG_ROUTES:
            body = {"POST": {**KEY, "name": "x"}, "PATCH": {"name": "x"}}.get(method)
            error(dns.call(method, path.format(id=made["id"]), who, json=body), 403,
                  "forbidden")
    error(dns.call("GET", "/tsigkeys", None), 401, "unauthorized")
    dns.ok("POST", "/tsigkeys", "admin", json={**KEY, "name": "other", "scope": "ZONE",
                                                 "algorithm": "hmac-md5"})
    listed = dns.ok("GET", "/tsigkeys", "admin", params={"scope": "POOL"})
    assert [k["id"] for k in listed["tsigkeys"]] == [made["id"]]
    assert dns.ok("GET", "/tsigkeys", "admin")["metadata"] == {"total_count": 2}
    changed = dns.ok("PATCH", f"/tsigkeys/{made['id']}", "admin",
                     json={"secret": "bmV3", "algorithm": "hmac-sha512"})
    assert (changed["secret"], changed["algorithm"]) == ("bmV3", "hmac-sha512")
    assert changed["updated_at"]
    error(dns.call("PATCH", f"/tsigkeys/{made['id']}", "admin", json={"name": "other"}),
          409, "duplicate_tsigkey")
    assert dns.call("DELETE", f"/tsigkeys/{made['id']}", "admin").status_code == 204
    error(dns.call("GET", f"/tsigkeys/{made['id']}", "admin"), 404, "tsigkey_not_found")


def test_tsigkey_bodies_are_checked(dns: Dns) -> None:
    bad_bodies = [{}, {**KEY, "algorithm": "hmac-sha3"}, {**KEY, "scope": "TENANT"},
                  {**KEY, "resource_id": "not-a-uuid"}, {**KEY, "secret": ""},
                  {**KEY, "name": "x" * 256}, {**KEY, "colour": "red"},
                  {k: v for k, v in KEY.items() if k != "secret"}]
    for bad in bad_bodies:
        error(dns.call("POST", "/tsigkeys", "admin", json=bad), 400, "invalid_object")
    assert dns.ok("GET", "/tsigkeys", "admin")["tsigkeys"] == []
    made = dns.ok("POST", "/tsigkeys", "admin", json=KEY)
    error(dns.call("POST", "/tsigkeys", "admin", json=KEY), 409, "duplicate_tsigkey")
    error(dns.call("PATCH", f"/tsigkeys/{made['id']}", "admin",
                   json={"resource_id": POOL}), 400, "invalid_object")


def test_zone_shares(dns: Dns) -> None:
    zone = dns.zone("shared.org.")
    path = f"/zones/{zone['id']}/shares"
    b = dns.projects["b"]
    # bob (project b) may not add to alice's zone until it is shared with b
    error(dns.recordset(zone["id"], "www.shared.org.", "A", ["10.0.0.1"], "bob"), 404,
          "zone_not_found")
    error(dns.call("POST", path, "bob", json={"target_project_id": b}), 404, "zone_not_found")
    error(dns.call("POST", path, "ann", json={"target_project_id": b}), 403, "forbidden")
    error(dns.call("POST", path, json={"target_project_id": dns.projects["a"]}), 400,
          "bad_request")
    share = dns.ok("POST", path, json={"target_project_id": b})
    assert (share["zone_id"], share["project_id"], share["target_project_id"]) == (
        zone["id"], dns.projects["a"], b)
    error(dns.call("POST", path, json={"target_project_id": b}), 409, "duplicate_zone_share")
    listed = dns.ok("GET", path, "ann")
    assert [s["id"] for s in listed["shared_zones"]] == [share["id"]]
    assert dns.ok("GET", f"{path}/{share['id']}", "admin",
                  headers={"x-auth-all-projects": "true"})["id"] == share["id"]
    error(dns.call("GET", path, "bob"), 404, "zone_not_found")
    made = dns.recordset(zone["id"], "www.shared.org.", "A", ["10.0.0.1"], "bob")
    assert made.status_code == 202, made.text
    owned = dns.ok("GET", f"/zones/{zone['id']}/recordsets/{made.json()['id']}",
                   headers={"x-auth-all-projects": "true"}, who="admin")
    assert owned["project_id"] == b
    body = error(dns.call("DELETE", f"{path}/{share['id']}"), 400,
                 "shared_zone_has_recordsets")
    assert b in body["message"]
    error(dns.call("DELETE", f"{path}/{share['id']}", "bob"), 404, "zone_not_found")
    dns.ok("DELETE", f"/zones/{zone['id']}/recordsets/{made.json()['id']}")
    assert dns.call("DELETE", f"{path}/{share['id']}").status_code == 204
    error(dns.call("GET", f"{path}/{share['id']}"), 404, "zone_share_not_found")
    error(dns.recordset(zone["id"], "ftp.shared.org.", "A", ["10.0.0.2"], "bob"), 404,
          "zone_not_found")
    for bad in ({}, {"target_project_id": ""}, {"target_project_id": b, "x": 1},
                {"target_project_id": 5}):
        error(dns.call("POST", path, json=bad), 400, "invalid_object")
