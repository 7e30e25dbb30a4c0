"""The DNS API (Designate v2) in-process: formats, codes, Designate's error bodies,
validation, paging, TLDs, quotas and serials, on SQLite and MariaDB."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any

import pytest

from labs.dns.errors import OverQuota
from labs.dns.scope import Caller
from tests.dns.api_helpers import NAMESERVERS, V2, Dns, dns_fixture, error  # noqa: F401


def test_version_discovery_needs_no_token(dns: Dns) -> None:
    root = dns.client.get("/dns/")
    assert root.status_code == 200
    versions = root.json()["versions"]
    assert {v["id"] for v in versions} >= {"v2", "v2.0"}
    assert all(v["links"][0] == {"href": "http://testserver/dns/v2", "rel": "self"}
               for v in versions)
    assert [v["status"] for v in versions].count("CURRENT") == 1
    assert dns.client.get("/dns/v2").json()["version"]["links"][0]["rel"] == "self"
    doc = dns.client.get("/dns/v2/openapi.json").json()  # the same for every caller
    assert doc["openapi"] == "3.1.0"
    for who in ("admin", "amy", "alice", "ann", "bob"):
        assert dns.ok("GET", "/openapi.json", who) == doc


def test_a_token_is_needed(dns: Dns) -> None:
    error(dns.call("GET", "/zones", who=None), 401, "unauthorized")
    error(dns.call("GET", "/zones", who=None, headers={"X-Auth-Token": "junk"}), 401,
          "unauthorized")


def test_zone_life(dns: Dns) -> None:
    resp = dns.call("POST", "/zones", json={"name": "Example.ORG.", "email": "hm@example.org",
                                           "ttl": 600, "description": "mine"})
    assert resp.status_code == 202, resp.text
    created = resp.json()
    assert created["name"] == "example.org." and created["ttl"] == 600
    assert (created["status"], created["action"]) == ("PENDING", "CREATE")
    assert created["project_id"] == dns.projects["a"] and created["type"] == "PRIMARY"
    assert created["masters"] == [] and created["attributes"] == {}
    self_link = f"http://testserver{V2}/zones/{created['id']}"
    assert created["links"] == {"self": self_link} and resp.headers["location"] == self_link

    shown = dns.ok("GET", f"/zones/{created['id']}")
    assert (shown["status"], shown["action"]) == ("ACTIVE", "NONE")
    served = dns.backend.zones["example.org."]
    assert served.serial == shown["serial"]
    assert [(rs.name, rs.type) for rs in served.recordsets] == [
        ("example.org.", "SOA"), ("example.org.", "NS")]
    soa = served.recordsets[0].records[0].split()
    assert soa[:3] == [NAMESERVERS[0], "hm.example.org.", str(shown["serial"])]
    assert served.recordsets[1].records == tuple(NAMESERVERS)
    assert dns.ok("GET", f"/zones/{created['id']}/nameservers") == {"nameservers": [
        {"hostname": NAMESERVERS[0], "priority": 1}, {"hostname": NAMESERVERS[1],
                                                      "priority": 2}]}

    patched = dns.call("PATCH", f"/zones/{created['id']}",
                       json={"email": "other@example.org", "ttl": 300})
    assert patched.status_code == 202
    assert (patched.json()["status"], patched.json()["action"]) == ("PENDING", "UPDATE")
    assert patched.json()["serial"] > shown["serial"]
    assert dns.backend.records("example.org.", "example.org.", "SOA")[0].split()[1] == \
        "other.example.org."
    error(dns.call("PATCH", f"/zones/{created['id']}", json={"name": "x.org."}), 400,
          "invalid_object")

    deleted = dns.call("DELETE", f"/zones/{created['id']}")
    assert deleted.status_code == 202
    assert (deleted.json()["status"], deleted.json()["action"]) == ("PENDING", "DELETE")
    error(dns.call("GET", f"/zones/{created['id']}"), 404, "zone_not_found")
    assert "example.org." not in dns.backend.zones


def test_zone_bodies_are_checked(dns: Dns) -> None:
    body = error(dns.call("POST", "/zones", json={"name": "example.org."}), 400,
                 "invalid_object")
    assert body["errors"]["errors"][0]["validator"] == "required"
    for bad in ({"name": "example.org", "email": "a@b.org"},
                {"name": "exa mple.org.", "email": "a@b.org"},
                {"name": "-x.org.", "email": "a@b.org"},
                {"name": "example.org.", "email": "not-an-email"},
                {"name": "example.org.", "email": "a@b.org", "ttl": 0},
                {"name": "example.org.", "email": "a@b.org", "colour": "red"},
                {"name": "example.org.", "email": "a@b.org", "description": "x" * 161}):
        error(dns.call("POST", "/zones", json=bad), 400, "invalid_object")
    error(dns.call("POST", "/zones", json={"name": "org.", "email": "a@b.org"}), 400,
          "invalid_zone_name")
    error(dns.call("POST", "/zones", json={"name": "x.org.", "email": "a@b.org",
                                           "type": "SECONDARY"}), 400, "bad_request")
    error(dns.client.post(f"{V2}/zones", content=b"{nope", headers={
        "X-Auth-Token": dns.token("alice"), "content-type": "application/json"}), 400,
        "bad_request")


def test_zone_names_belong_to_one_project(dns: Dns) -> None:
    mine = dns.zone("example.org.")
    body = error(dns.call("POST", "/zones", json={"name": "example.org.",
                                                  "email": "a@example.org"}),
                 409, "duplicate_zone")
    assert body["message"] == "Duplicate Zone"
    error(dns.call("POST", "/zones", "bob", json={"name": "example.org.",
                                                  "email": "b@example.org"}),
          409, "duplicate_zone")
    error(dns.call("POST", "/zones", "bob", json={"name": "sub.example.org.",
                                                  "email": "b@example.org"}),
          403, "illegal_child")
    dns.zone("deep.other.net.", "bob")
    error(dns.call("POST", "/zones", json={"name": "other.net.", "email": "a@other.net"}),
          403, "illegal_parent")
    # a project's own sub-zone is fine, and names under it belong there
    sub = dns.zone("sub.example.org.")
    error(dns.recordset(mine["id"], "www.sub.example.org.", "A", ["10.0.0.1"]), 400,
          "invalid_recordset_location")
    assert dns.recordset(sub["id"], "www.sub.example.org.", "A", ["10.0.0.1"]).status_code \
        == 202
    error(dns.call("DELETE", f"/zones/{mine['id']}"), 400, "zone_has_sub_zone")


def test_recordset_life(dns: Dns) -> None:
    zone = dns.zone("example.org.")
    resp = dns.recordset(zone["id"], "WWW.example.org.", "a", ["10.0.0.2", "10.0.0.1"],
                         ttl=120, description="web")
    assert resp.status_code == 202, resp.text
    made = resp.json()
    assert (made["name"], made["type"], made["ttl"]) == ("www.example.org.", "A", 120)
    assert made["records"] == ["10.0.0.1", "10.0.0.2"] and made["zone_name"] == "example.org."
    assert (made["status"], made["action"]) == ("PENDING", "CREATE")
    path = f"/zones/{zone['id']}/recordsets/{made['id']}"
    assert resp.headers["location"] == made["links"]["self"] == f"http://testserver{V2}{path}"
    shown = dns.ok("GET", path)
    assert (shown["status"], shown["action"]) == ("ACTIVE", "NONE")
    assert dns.backend.records("example.org.", "www.example.org.", "A") == ["10.0.0.1",
                                                                            "10.0.0.2"]

    put = dns.call("PUT", path, json={"records": ["10.0.0.3"], "ttl": None})
    assert put.status_code == 202 and put.json()["records"] == ["10.0.0.3"]
    assert put.json()["ttl"] is None and put.json()["action"] == "UPDATE"
    served = next(rs for rs in dns.backend.zones["example.org."].recordsets if rs.type == "A")
    assert served.records == ("10.0.0.3",) and served.ttl == 3600
    error(dns.call("PUT", path, json={"name": "web.example.org."}), 400, "invalid_object")

    # the project-wide list, and the short way to a recordset
    every = dns.ok("GET", "/recordsets", params={"type": "A"})["recordsets"]
    assert [r["id"] for r in every] == [made["id"]]
    assert dns.ok("GET", "/recordsets", params={"data": "10.0.0.*"})["metadata"][
        "total_count"] == 1
    moved = dns.client.get(f"{V2}/recordsets/{made['id']}", follow_redirects=False,
                           headers={"X-Auth-Token": dns.token("alice")})
    assert moved.status_code == 301 and moved.headers["location"] == made["links"]["self"]

    gone = dns.call("DELETE", path)
    assert gone.status_code == 202 and gone.json()["action"] == "DELETE"
    error(dns.call("GET", path), 404, "recordset_not_found")
    assert dns.backend.records("example.org.", "www.example.org.", "A") == []


def test_record_data_per_type(dns: Dns) -> None:
    zone = dns.zone("example.org.")
    good: list[tuple[str, str, list[str], list[str]]] = [
        ("v6.example.org.", "AAAA", ["2001:DB8::1"], ["2001:db8::1"]),
        ("alias.example.org.", "CNAME", ["WWW.Example.org."], ["www.example.org."]),
        ("example.org.", "MX", ["10 mail.example.org."], ["10 mail.example.org."]),
        ("_sip._tcp.example.org.", "SRV", ["10 60 5060 sip.example.org."],
         ["10 60 5060 sip.example.org."]),
        ("example.org.", "TXT", ['"v=spf1 -all"', "plain"], ['"plain"', '"v=spf1 -all"']),
        ("t2.example.org.", "TXT", ['"' + "a" * 255 + '" "b"'], ['"' + "a" * 255 + '" "b"']),
        ("example.org.", "CAA", ['0 issue "letsencrypt.org"'], ['0 issue "letsencrypt.org"']),
        ("sub.example.org.", "NS", ["ns.elsewhere.net."], ["ns.elsewhere.net."]),
        ("1.example.org.", "PTR", ["host.example.org."], ["host.example.org."]),
        ("*.wild.example.org.", "A", ["10.0.0.9"], ["10.0.0.9"]),
    ]
    for name, type_, records, stored in good:
        resp = dns.recordset(zone["id"], name, type_, records)
        assert resp.status_code == 202, f"{type_} {records}: {resp.text}"
        assert resp.json()["records"] == stored, resp.json()
    bad: list[tuple[str, str, list[str]]] = [
        ("a.example.org.", "A", ["10.0.0.300"]), ("a.example.org.", "A", ["::1"]),
        ("a.example.org.", "AAAA", ["10.0.0.1"]), ("a.example.org.", "CNAME", ["www"]),
        ("a.example.org.", "MX", ["mail.example.org."]), ("a.example.org.", "MX",
                                                          ["70000 mail.example.org."]),
        ("_x._tcp.example.org.", "SRV", ["1 2 mail.example.org."]),
        ("srv.example.org.", "SRV", ["1 2 3 mail.example.org."]),
        ("a.example.org.", "TXT", ['"' + "a" * 256 + '"']), ("a.example.org.", "TXT",
                                                             ['"unclosed']),
        ("a.example.org.", "TXT", ["line\nbreak"]), ("a.example.org.", "CAA", ["0 issue"]),
        ("a.example.org.", "SPF", ["v=spf1"]), ("a b.example.org.", "A", ["10.0.0.1"]),
        ("a.example.org", "A", ["10.0.0.1"]), ("a.example.org.", "A", []),
    ]
    for name, type_, records in bad:
        body = error(dns.recordset(zone["id"], name, type_, records), 400, "invalid_object")
        assert body["errors"]["errors"], body
    error(dns.recordset(zone["id"], "www.elsewhere.org.", "A", ["10.0.0.1"]), 400,
          "invalid_recordset_location")


def test_cname_stands_alone(dns: Dns) -> None:
    zone = dns.zone("example.org.")
    assert dns.recordset(zone["id"], "www.example.org.", "A", ["10.0.0.1"]).status_code == 202
    body = error(dns.recordset(zone["id"], "www.example.org.", "CNAME", ["x.example.org."]),
                 400, "invalid_recordset_location")
    assert "CNAME recordsets may not share a name" in body["message"]
    assert dns.recordset(zone["id"], "c.example.org.", "CNAME",
                         ["x.example.org."]).status_code == 202
    error(dns.recordset(zone["id"], "c.example.org.", "TXT", ["x"]), 400,
          "invalid_recordset_location")
    error(dns.recordset(zone["id"], "example.org.", "CNAME", ["x.example.org."]), 400,
          "invalid_recordset_location")
    error(dns.recordset(zone["id"], "d.example.org.", "CNAME", ["x.org.", "y.org."]), 400,
          "bad_request")
    error(dns.recordset(zone["id"], "www.example.org.", "A", ["10.0.0.2"]), 409,
          "duplicate_recordset")


def test_soa_and_apex_ns_are_the_services(dns: Dns) -> None:
    zone = dns.zone("example.org.")
    error(dns.recordset(zone["id"], "example.org.", "SOA", ["x"]), 400, "bad_request")
    error(dns.recordset(zone["id"], "example.org.", "NS", ["ns9.example.net."]), 409,
          "duplicate_recordset")
    by_type = {r["type"]: r for r in dns.rrsets(zone["id"])}
    for type_ in ("SOA", "NS"):
        path = f"/zones/{zone['id']}/recordsets/{by_type[type_]['id']}"
        error(dns.call("PUT", path, json={"records": ["ns9.example.net."]}), 400, "bad_request")
        error(dns.call("DELETE", path), 400, "bad_request")


def test_serial_goes_up_with_every_change(dns: Dns) -> None:
    zone = dns.zone("example.org.")
    serials = [zone["serial"]]

    def now() -> int:
        shown = dns.ok("GET", f"/zones/{zone['id']}")
        soa = next(r for r in dns.rrsets(zone["id"]) if r["type"] == "SOA")
        assert soa["records"][0].split()[2] == str(shown["serial"])
        assert dns.backend.serial("example.org.") == shown["serial"]
        return int(shown["serial"])

    rs = dns.recordset(zone["id"], "a.example.org.", "A", ["10.0.0.1"]).json()
    serials.append(now())
    dns.ok("PUT", f"/zones/{zone['id']}/recordsets/{rs['id']}", json={"records": ["10.0.0.2"]})
    serials.append(now())
    dns.ok("DELETE", f"/zones/{zone['id']}/recordsets/{rs['id']}")
    serials.append(now())
    dns.ok("PATCH", f"/zones/{zone['id']}", json={"description": "changed"})
    serials.append(now())
    assert serials == sorted(set(serials)), serials


def test_other_projects_zones_are_invisible(dns: Dns) -> None:
    zone = dns.zone("example.org.")
    rs = dns.recordset(zone["id"], "www.example.org.", "A", ["10.0.0.1"]).json()
    zpath, rpath = f"/zones/{zone['id']}", f"/zones/{zone['id']}/recordsets/{rs['id']}"
    assert dns.ok("GET", "/zones", "bob")["zones"] == []
    assert dns.ok("GET", "/recordsets", "bob")["recordsets"] == []
    for method, path, body in (("GET", zpath, None), ("PATCH", zpath, {"ttl": 5}),
                               ("DELETE", zpath, None), ("GET", f"{zpath}/nameservers", None),
                               ("GET", f"{zpath}/recordsets", None), ("GET", rpath, None),
                               ("PUT", rpath, {"records": ["10.0.0.9"]}),
                               ("DELETE", rpath, None)):
        error(dns.call(method, path, "bob", json=body), 404, "zone_not_found")
    error(dns.recordset(zone["id"], "x.example.org.", "A", ["10.0.0.1"], who="bob"), 404,
          "zone_not_found")
    # the reader of the project looks but does not touch
    assert [z["id"] for z in dns.ok("GET", "/zones", "ann")["zones"]] == [zone["id"]]
    error(dns.call("DELETE", rpath, "ann"), 403, "forbidden")
    error(dns.recordset(zone["id"], "x.example.org.", "A", ["10.0.0.1"], who="ann"), 403,
          "forbidden")
    error(dns.call("POST", "/zones", "ann", json={"name": "r.org.", "email": "a@r.org"}),
          403, "forbidden")
    assert dns.ok("GET", rpath)["records"] == ["10.0.0.1"]


def test_all_projects_and_sudo_are_for_admins(dns: Dns) -> None:
    zone = dns.zone("example.org.")
    every = {"X-Auth-All-Projects": "true"}
    error(dns.call("GET", "/zones", "alice", headers=every), 403, "forbidden")
    error(dns.call("GET", "/zones", "amy", params={"all_projects": "1"}), 403, "forbidden")
    error(dns.call("GET", "/zones", "bob", headers={
        "X-Auth-Sudo-Project-ID": dns.projects["a"]}), 403, "forbidden")
    assert dns.ok("GET", "/zones", "admin")["zones"] == []
    assert [z["id"] for z in dns.ok("GET", "/zones", "admin", headers=every)["zones"]] == [
        zone["id"]]
    assert dns.ok("GET", f"/zones/{zone['id']}", "admin", headers=every)["id"] == zone["id"]
    sudo = {"X-Auth-Sudo-Project-ID": dns.projects["b"]}
    made = dns.ok("POST", "/zones", "admin", headers=sudo,
                  json={"name": "bobs.org.", "email": "b@bobs.org"})
    assert made["project_id"] == dns.projects["b"]
    assert [z["name"] for z in dns.ok("GET", "/zones", "bob")["zones"]] == ["bobs.org."]
    assert [z["name"] for z in dns.ok("GET", "/zones", "admin", headers=sudo)["zones"]] == [
        "bobs.org."]


def test_paging_sorting_and_filters(dns: Dns) -> None:
    names = [f"z{i}.example.org." for i in range(5)]
    for name in names:
        dns.zone(name, description="even" if name[1] in "024" else "odd")
    first = dns.ok("GET", "/zones", params={"limit": 2, "sort_key": "name"})
    assert [z["name"] for z in first["zones"]] == names[:2]
    assert first["metadata"] == {"total_count": 5}
    seen = [z["name"] for z in first["zones"]]
    link = first["links"]["next"]
    for _ in range(5):
        page = dns.client.get(link, headers={"X-Auth-Token": dns.token("alice")}).json()
        seen += [z["name"] for z in page["zones"]]
        if "next" not in page["links"]:
            break
        link = page["links"]["next"]
    assert seen == names
    desc = dns.ok("GET", "/zones", params={"sort_key": "name", "sort_dir": "desc"})
    assert [z["name"] for z in desc["zones"]] == names[::-1]
    assert "next" not in desc["links"]
    assert desc["links"]["self"] == f"http://testserver{V2}/zones?sort_key=name&sort_dir=desc"
    assert len(dns.ok("GET", "/zones", params={"description": "even"})["zones"]) == 3
    assert [z["name"] for z in dns.ok("GET", "/zones", params={"name": "z3.*"})["zones"]] == [
        "z3.example.org."]
    assert len(dns.ok("GET", "/zones", params={"status": "ACTIVE", "ttl": "3600"})[
        "zones"]) == 5
    error(dns.call("GET", "/zones", params={"limit": "0"}), 400, "invalid_limit")
    error(dns.call("GET", "/zones", params={"limit": "lots"}), 400, "invalid_limit")
    error(dns.call("GET", "/zones", params={"sort_key": "email"}), 400, "invalid_sort_key")
    error(dns.call("GET", "/zones", params={"sort_dir": "up"}), 400, "invalid_sort_dir")
    error(dns.call("GET", "/zones", params={"marker": "nope"}), 400, "marker_not_found")
    error(dns.call("GET", "/zones", params={"colour": "red"}), 400, "bad_request")
    zone_id = first["zones"][0]["id"]
    for i in range(3):
        dns.recordset(zone_id, f"h{i}.z0.example.org.", "A", [f"10.0.0.{i}"])
    page = dns.ok("GET", f"/zones/{zone_id}/recordsets", params={"limit": 2,
                                                                 "type": "A"})
    assert page["metadata"]["total_count"] == 3 and "next" in page["links"]


def test_tlds(dns: Dns) -> None:
    error(dns.call("POST", "/tlds", json={"name": "org"}), 403, "forbidden")
    tld = dns.call("POST", "/tlds", "admin", json={"name": "org", "description": "orgs"})
    assert tld.status_code == 201 and tld.json()["name"] == "org"
    assert tld.json()["links"]["self"] == f"http://testserver{V2}/tlds/{tld.json()['id']}"
    error(dns.call("POST", "/tlds", "admin", json={"name": "ORG."}), 409, "duplicate_tld")
    assert [t["name"] for t in dns.ok("GET", "/tlds", "admin")["tlds"]] == ["org"]
    error(dns.call("POST", "/zones", json={"name": "example.com.", "email": "a@b.org"}), 400,
          "invalid_zone_name")
    error(dns.call("POST", "/zones", json={"name": "org.", "email": "a@b.org"}), 400,
          "invalid_zone_name")
    dns.zone("example.org.")
    dns.ok("DELETE", f"/tlds/{tld.json()['id']}", "admin")
    error(dns.call("GET", f"/tlds/{tld.json()['id']}", "admin"), 404, "tld_not_found")
    dns.zone("example.com.")


def test_quotas(dns: Dns) -> None:
    a = dns.projects["a"]
    defaults = dns.ok("GET", f"/quotas/{a}")
    assert defaults == {"zones": 10, "zone_recordsets": 500, "zone_records": 500,
                        "recordset_records": 20, "api_export_size": 1000}
    assert dns.ok("GET", "/quotas") == defaults
    limits = {"max_zones": 10, "max_zone_recordsets": 500, "max_zone_records": 500,
              "max_recordset_records": 20, "min_ttl": None, "max_zone_name_length": 255,
              "max_recordset_name_length": 255, "max_page_limit": 1000}
    assert dns.ok("GET", "/limits", "ann") == dns.ok("GET", "/limits", "bob") == limits
    error(dns.call("GET", f"/quotas/{a}", "bob"), 403, "forbidden")
    error(dns.call("PATCH", f"/quotas/{a}", json={"zones": 1}), 403, "forbidden")
    error(dns.call("PATCH", f"/quotas/{a}", "admin", json={"zonez": 1}), 400,
          "quota_resource_unknown")
    set_to: dict[str, Any] = dns.ok("PATCH", f"/quotas/{a}", "admin", json={
        "zones": 1, "recordset_records": 2, "zone_recordsets": 4})
    assert set_to["zones"] == 1 and set_to["recordset_records"] == 2
    assert dns.ok("GET", "/limits")["max_zones"] == 1  # the caller's own project
    assert dns.ok("GET", "/limits", "bob")["max_zones"] == 10
    zone = dns.zone("example.org.")
    body = error(dns.call("POST", "/zones", json={"name": "two.org.", "email": "a@two.org"}),
                 413, "over_quota")
    assert body["message"] == "Quota exceeded for zones."
    error(dns.recordset(zone["id"], "a.example.org.", "A", ["10.0.0.1", "10.0.0.2",
                                                            "10.0.0.3"]), 413, "over_quota")
    rs = dns.recordset(zone["id"], "a.example.org.", "A", ["10.0.0.1", "10.0.0.2"]).json()
    error(dns.call("PUT", f"/zones/{zone['id']}/recordsets/{rs['id']}",
                   json={"records": ["10.0.0.1", "10.0.0.2", "10.0.0.3"]}), 413, "over_quota")
    dns.recordset(zone["id"], "b.example.org.", "A", ["10.0.0.1"])
    error(dns.recordset(zone["id"], "c.example.org.", "A", ["10.0.0.1"]), 413, "over_quota")
    dns.ok("DELETE", f"/quotas/{a}", "admin")
    assert dns.ok("GET", f"/quotas/{a}") == defaults
    dns.zone("two.org.")


def test_zone_quota_holds_under_concurrent_creates(dns: Dns) -> None:
    """Creates racing in one project take turns counting: never more zones than the
    quota, whatever the engine."""
    a = dns.projects["a"]
    dns.service.quotas.set(a, {"zones": 3})
    caller = Caller(project_id=a)
    outcomes: list[str] = []

    def create(i: int) -> None:
        try:
            dns.service.zones.create(caller, {"name": f"race{i}.org.", "email": "a@a.org"})
            outcomes.append("made")
        except OverQuota:
            outcomes.append("over")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["made"] * 3 + ["over"] * 5
    assert len(dns.ok("GET", "/zones")["zones"]) == 3


@pytest.mark.parametrize("quota,records", [("zone_recordsets", 1), ("zone_records", 2)])
def test_recordset_quotas_hold_under_concurrent_creates(dns: Dns, quota: str,
                                                         records: int) -> None:
    """Recordsets racing into one zone: never more recordsets (or records) than the
    zone's quota, whatever the engine."""
    zone = dns.zone("race.org.")
    present = dns.rrsets(zone["id"])  # the zone's SOA and NS count as Designate counts them
    used = len(present) if quota == "zone_recordsets" else sum(
        len(rs["records"]) for rs in present)
    dns.ok("PATCH", f"/quotas/{dns.projects['a']}", "admin", json={quota: used + 3 * records})
    data = [f"10.0.0.{i + 1}" for i in range(records)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(
            lambda i: dns.recordset(zone["id"], f"r{i}.race.org.", "A", data), range(8)))
    assert sorted(r.status_code for r in replies) == [202] * 3 + [413] * 5
    made = [rs for rs in dns.rrsets(zone["id"]) if rs["type"] == "A"]
    assert len(made) == 3 and sum(len(rs["records"]) for rs in made) == 3 * records
