"""Which zone names a project may take (the cloud's project domains, its own part of the
cloud's domain, registered TLDs; never a blacklisted name), blacklists (``/v2/blacklists``)
and list markers that stay within the caller's view."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import Cloud
from tests.dns.api_helpers import V2, Dns, dns_fixture, error, make_dns  # noqa: F401

PROJECT_DOMAIN = "projects.example.net"


@pytest.fixture(name="strict")
def strict_fixture(cloud: Cloud) -> Iterator[Dns]:
    """The DNS API with the defaults and one project domain, as an operator sets it up."""
    yield from make_dns(cloud, project_zone_domains=[PROJECT_DOMAIN])


def create(dns: Dns, name: str, who: str = "alice") -> tuple[int, dict[str, str]]:
    resp = dns.call("POST", "/zones", who, json={"name": name, "email": "hm@example.net"})
    return resp.status_code, resp.json()


def test_members_take_no_public_names(strict: Dns) -> None:
    body = error(strict.call("POST", "/zones", "alice", json={
        "name": "pypi.org.", "email": "hm@pypi.org"}), 400, "invalid_zone_name")
    assert PROJECT_DOMAIN in body["message"]
    for who in ("amy", "bob"):
        error(strict.call("POST", "/zones", who, json={"name": "pypi.org.",
                                                       "email": "hm@pypi.org"}),
              400, "invalid_zone_name")
    assert "pypi.org." not in strict.backend.zones
    assert create(strict, "pypi.org.", "admin")[0] == 202  # admins may take any name


def test_members_take_names_under_project_domains_and_tlds(strict: Dns) -> None:
    assert create(strict, f"tools.{PROJECT_DOMAIN}.")[0] == 202
    assert create(strict, f"deep.web.{PROJECT_DOMAIN}.", "bob")[0] == 202
    error(strict.call("POST", "/zones", json={"name": f"{PROJECT_DOMAIN}.",
                                              "email": "a@b.net"}), 400, "invalid_zone_name")
    # another project's zone stays its own: nothing inside it, nothing above it
    error(strict.call("POST", "/zones", json={"name": f"x.tools.{PROJECT_DOMAIN}.",
                                              "email": "a@b.net"}, who="bob"),
          403, "illegal_child")
    error(strict.call("POST", "/zones", json={"name": f"web.{PROJECT_DOMAIN}.",
                                              "email": "a@b.net"}), 403, "illegal_parent")
    # a TLD an admin registered opens its names to projects
    error(strict.call("POST", "/zones", json={"name": "lab.example.", "email": "a@b.net"}),
          400, "invalid_zone_name")
    strict.ok("POST", "/tlds", "admin", json={"name": "example"})
    assert create(strict, "lab.example.")[0] == 202


def test_members_take_only_their_own_project_in_the_cloud_domain(strict: Dns) -> None:
    strict.service.ensure_cloud_zone("labs.internal.", "hm@labs.internal", 300)
    code, body = create(strict, "a.labs.internal.")  # alice's project is "a"
    assert code == 202, body
    assert create(strict, "db.a.labs.internal.")[0] == 202
    for name in ("b.labs.internal.", "x.b.labs.internal.", "labs.internal.",
                 "ns1.labs.internal."):
        error(strict.call("POST", "/zones", json={"name": name, "email": "a@b.net"}),
              403, "illegal_child")
    for name in ("a.labs.internal.", "x.a.labs.internal."):
        error(strict.call("POST", "/zones", "bob", json={"name": name, "email": "b@b.net"}),
              403, "illegal_child")
    error(strict.call("POST", "/zones", json={"name": "68.10.in-addr.arpa.",
                                              "email": "a@b.net"}), 400, "invalid_zone_name")


BLACKLIST_ROUTES = (("GET", "/blacklists"), ("POST", "/blacklists"),
                    ("GET", "/blacklists/{id}"), ("PATCH", "/blacklists/{id}"),
                    ("DELETE", "/blacklists/{id}"))


def test_blacklists_are_for_admins(dns: Dns) -> None:
    made = dns.ok("POST", "/blacklists", "admin",
                  json={"pattern": r"^pypi\.org\.$", "description": "the index"})
    assert made["pattern"] == r"^pypi\.org\.$" and made["description"] == "the index"
    assert made["links"]["self"].endswith(f"{V2}/blacklists/{made['id']}")
    for who in ("alice", "ann", "amy", "bob"):
        for method, path in BLACKLIST_ROUTES:
            body = {"pattern": "x"} if method in ("POST", "PATCH") else None
            error(dns.call(method, path.format(id=made["id"]), who, json=body), 403,
                  "forbidden")
        error(dns.call("GET", "/blacklists", None), 401, "unauthorized")
    listed = dns.ok("GET", "/blacklists", "admin")
    assert [b["id"] for b in listed["blacklists"]] == [made["id"]]
    assert listed["metadata"] == {"total_count": 1}
    assert dns.ok("GET", f"/blacklists/{made['id']}", "admin")["id"] == made["id"]
    changed = dns.ok("PATCH", f"/blacklists/{made['id']}", "admin",
                     json={"pattern": r"(^|\.)pypi\.org\.$"})
    assert changed["pattern"] == r"(^|\.)pypi\.org\.$" and changed["updated_at"]
    assert dns.call("DELETE", f"/blacklists/{made['id']}", "admin").status_code == 204
    error(dns.call("GET", f"/blacklists/{made['id']}", "admin"), 404, "blacklist_not_found")


def test_blacklist_bodies_are_checked(dns: Dns) -> None:
    for bad in ({}, {"pattern": ""}, {"pattern": "(unclosed"}, {"pattern": r"(a)\1"},
                {"pattern": "x" * 256}, {"pattern": "x", "colour": "red"},
                {"pattern": 5}):
        error(dns.call("POST", "/blacklists", "admin", json=bad), 400, "invalid_object")
    assert dns.ok("GET", "/blacklists", "admin")["blacklists"] == []
    made = dns.ok("POST", "/blacklists", "admin", json={"pattern": "evil"})
    error(dns.call("POST", "/blacklists", "admin", json={"pattern": "evil"}), 409,
          "duplicate_blacklist")
    error(dns.call("PATCH", f"/blacklists/{made['id']}", "admin",
                   json={"pattern": "[z-a]"}), 400, "invalid_object")
    assert dns.ok("GET", f"/blacklists/{made['id']}", "admin")["pattern"] == "evil"
    error(dns.call("PATCH", "/blacklists/nope", "admin", json={"pattern": "x"}), 404,
          "blacklist_not_found")
    error(dns.call("DELETE", "/blacklists/nope", "admin"), 404, "blacklist_not_found")
    error(dns.call("GET", "/blacklists", "admin", params={"sort_key": "colour"}), 400,
          "invalid_sort_key")
    doc = dns.client.get(f"{V2}/openapi.json").json()
    assert {"/v2/blacklists", "/v2/blacklists/{blacklist_id}"} <= set(doc["paths"])


def test_blacklisted_names_are_for_admins(dns: Dns) -> None:
    dns.ok("POST", "/blacklists", "admin", json={"pattern": r"(^|\.)pypi\.org\.$"})
    # a pattern that backtracks for ages in a backtracking engine: RE2 is linear
    dns.ok("POST", "/blacklists", "admin", json={"pattern": r"^(a+)+$"})
    for name in ("pypi.org.", "files.pypi.org."):
        body = error(dns.call("POST", "/zones", json={"name": name, "email": "a@b.org"}),
                     400, "invalid_zone_name")
        assert body["message"] == "Blacklisted zone name"
    started = time.monotonic()
    assert create(dns, "a" * 60 + "!.org.")[0] in (202, 400)
    assert time.monotonic() - started < 2.0
    assert create(dns, "pypi.org.", "admin")[0] == 202
    assert create(dns, "notpypi.org.")[0] == 202


def test_markers_stay_in_the_callers_view(dns: Dns) -> None:
    mine = dns.zone("mine.org.")
    theirs = dns.zone("theirs.org.", "bob")
    rs = dns.recordset(theirs["id"], "www.theirs.org.", "A", ["10.0.0.1"], who="bob").json()
    for path, marker in (("/zones", theirs["id"]), ("/recordsets", rs["id"]),
                         (f"/zones/{mine['id']}/recordsets", rs["id"])):
        unknown = error(dns.call("GET", path, params={"marker": "no-such-id"}), 400,
                        "marker_not_found")
        other = error(dns.call("GET", path, params={"marker": marker}), 400,
                      "marker_not_found")
        assert other["message"] == unknown["message"].replace("no-such-id", marker)
    assert dns.ok("GET", "/zones", "bob", params={"marker": theirs["id"]})["zones"] == []
