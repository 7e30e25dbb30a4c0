"""Zone exports and imports (Designate's zone tasks) in-process, on SQLite and MariaDB:
the zone file's format, a round trip, protection and bad zone files."""

from __future__ import annotations

import dns.zone as dnszone

from tests.dns.api_helpers import V2, Dns, dns_fixture, error  # noqa: F401

ZONE_FILE = """$ORIGIN imported.org.
$TTL 600
@ 600 IN SOA ns1.elsewhere.net. host\\.master.imported.org. 7 3600 600 86400 300
@ IN NS ns1.elsewhere.net.
@ IN MX 10 mail.imported.org.
www 300 IN A 192.0.2.10
www IN A 192.0.2.11
mail IN A 192.0.2.20
alias IN CNAME www
txt IN TXT "hello world"
"""


def import_file(dns: Dns, text: str, who: str = "alice",
                content_type: str = "text/dns") -> dict:
    resp = dns.client.post(f"{V2}/zones/tasks/imports", content=text.encode(),
                           headers={"X-Auth-Token": dns.token(who),
                                    "Content-Type": content_type})
    assert resp.status_code == 202, resp.text
    return resp.json()


def test_export_renders_the_zone_file(dns: Dns) -> None:
    zone = dns.zone("export.org.", ttl=900)
    assert dns.recordset(zone["id"], "www.export.org.", "A", ["192.0.2.1", "192.0.2.2"],
                         ttl=60).status_code == 202
    assert dns.recordset(zone["id"], "export.org.", "TXT", ['"v=spf1 -all"']
                         ).status_code == 202
    resp = dns.call("POST", f"/zones/{zone['id']}/tasks/export")
    assert resp.status_code == 202, resp.text
    made = resp.json()
    assert made["status"] == "COMPLETE" and made["zone_id"] == zone["id"]
    assert made["location"] == f"designate://v2/zones/tasks/exports/{made['id']}/export"
    assert made["project_id"] == dns.projects["a"] and made["message"] is None
    assert dns.ok("GET", f"/zones/tasks/exports/{made['id']}") == made
    assert [e["id"] for e in dns.ok("GET", "/zones/tasks/exports")["exports"]] == [made["id"]]
    got = dns.call("GET", f"/zones/tasks/exports/{made['id']}/export")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/dns")
    text = got.text
    assert text.startswith("$ORIGIN export.org.\n$TTL 900\n\n"), text
    assert "www.export.org. 60 IN A 192.0.2.1\n" in text
    assert 'export.org. 900 IN TXT "v=spf1 -all"\n' in text
    zone_obj = dnszone.from_text(text, relativize=False)
    assert zone_obj.origin.to_text() == "export.org."
    # another project, a reader: no export of a's zone; the reader may look
    error(dns.call("POST", f"/zones/{zone['id']}/tasks/export", "bob"), 404, "zone_not_found")
    error(dns.call("POST", f"/zones/{zone['id']}/tasks/export", "ann"), 403, "forbidden")
    assert dns.ok("GET", f"/zones/tasks/exports/{made['id']}", "ann")["id"] == made["id"]
    for path in (f"/zones/tasks/exports/{made['id']}",
                 f"/zones/tasks/exports/{made['id']}/export"):
        error(dns.call("GET", path, "bob"), 404, "zone_export_not_found")
    assert dns.ok("GET", "/zones/tasks/exports", "bob")["exports"] == []
    assert dns.ok("GET", "/zones/tasks/exports", "admin",
                  headers={"X-Auth-All-Projects": "true"})["metadata"]["total_count"] == 1
    error(dns.call("DELETE", f"/zones/tasks/exports/{made['id']}", "bob"), 404,
          "zone_export_not_found")
    assert dns.call("DELETE", f"/zones/tasks/exports/{made['id']}").status_code == 204


def test_export_larger_than_the_quota_fails(dns: Dns) -> None:
    zone = dns.zone("big.org.")
    dns.ok("PATCH", f"/quotas/{dns.projects['a']}", "admin", json={"api_export_size": 2})
    assert dns.recordset(zone["id"], "a.big.org.", "A", ["192.0.2.1"]).status_code == 202
    made = dns.ok("POST", f"/zones/{zone['id']}/tasks/export")
    assert made["status"] == "ERROR" and "too large" in made["message"]
    assert made["location"] is None
    error(dns.call("GET", f"/zones/tasks/exports/{made['id']}/export"), 404,
          "zone_export_not_found")


def test_import_makes_the_zone_and_its_recordsets(dns: Dns) -> None:
    made = import_file(dns, ZONE_FILE)
    assert made["status"] == "COMPLETE" and made["zone_id"], made
    assert made["project_id"] == dns.projects["a"]
    zone = dns.ok("GET", f"/zones/{made['zone_id']}")
    assert (zone["name"], zone["email"], zone["ttl"]) == ("imported.org.",
                                                          "host.master@imported.org", 600)
    sets = {(rs["name"], rs["type"]): (rs["ttl"], sorted(rs["records"]))
            for rs in dns.rrsets(zone["id"])}
    assert sets[("www.imported.org.", "A")] == (300, ["192.0.2.10", "192.0.2.11"])
    assert sets[("imported.org.", "MX")] == (None, ["10 mail.imported.org."])
    assert sets[("alias.imported.org.", "CNAME")] == (None, ["www.imported.org."])
    assert sets[("txt.imported.org.", "TXT")] == (None, ['"hello world"'])
    # the SOA and apex NS are the service's own, not the file's
    assert sets[("imported.org.", "NS")][1] == sorted(dns.service.options.nameservers)
    assert dns.backend.records("imported.org.", "www.imported.org.", "A") == [
        "192.0.2.10", "192.0.2.11"]
    assert dns.ok("GET", f"/zones/tasks/imports/{made['id']}") == made
    assert dns.ok("GET", "/zones/tasks/imports")["imports"] == [made]
    error(dns.call("GET", f"/zones/tasks/imports/{made['id']}", "bob"), 404,
          "zone_import_not_found")
    error(dns.call("DELETE", f"/zones/tasks/imports/{made['id']}", "ann"), 403, "forbidden")
    assert dns.call("DELETE", f"/zones/tasks/imports/{made['id']}").status_code == 204
    assert dns.ok("GET", f"/zones/{zone['id']}")["id"] == zone["id"]  # the zone stays


def test_export_then_import_round_trips(dns: Dns) -> None:
    made = import_file(dns, ZONE_FILE)
    export = dns.ok("POST", f"/zones/{made['zone_id']}/tasks/export")
    text = dns.call("GET", f"/zones/tasks/exports/{export['id']}/export").text
    before = {(rs["name"], rs["type"], rs["ttl"], tuple(sorted(rs["records"])))
              for rs in dns.rrsets(made["zone_id"]) if rs["type"] != "SOA"}
    assert dns.call("DELETE", f"/zones/{made['zone_id']}").status_code == 202
    again = import_file(dns, text)
    assert again["status"] == "COMPLETE", again
    after = {(rs["name"], rs["type"], rs["ttl"], tuple(sorted(rs["records"])))
             for rs in dns.rrsets(again["zone_id"]) if rs["type"] != "SOA"}
    assert after == before


def test_bad_zone_files_end_in_error(dns: Dns) -> None:
    bad = {
        "garbage": "this is not a zone file at all",
        "no SOA": "$ORIGIN nosoa.org.\n@ 60 IN NS ns1.x.org.\nwww 60 IN A 192.0.2.1\n",
        "bad A": ZONE_FILE.replace("192.0.2.20", "999.1.1.1"),
        "unserved type": ZONE_FILE + "loc 60 IN HINFO \"pc\" \"linux\"\n",
        "binary": "\udcff",
    }
    for why, text in bad.items():
        body = text.encode("utf-8", "surrogateescape")
        resp = dns.client.post(f"{V2}/zones/tasks/imports", content=body, headers={
            "X-Auth-Token": dns.token("alice"), "Content-Type": "text/dns"})
        assert resp.status_code == 202, (why, resp.text)
        made = resp.json()
        assert made["status"] == "ERROR" and made["message"] and made["zone_id"] is None, why
    assert dns.ok("GET", "/zones")["zones"] == []  # nothing half-made
    # a zone that exists, or a name the project may not take
    dns.zone("imported.org.", "bob")
    taken = import_file(dns, ZONE_FILE)
    assert taken["status"] == "ERROR" and "different project" in taken["message"]
    forbidden = import_file(dns, ZONE_FILE.replace("imported.org.", "imported.example."))
    assert forbidden["status"] == "ERROR", forbidden
    # over the zone quota
    dns.ok("PATCH", f"/quotas/{dns.projects['a']}", "admin", json={"zones": 0})
    over = import_file(dns, ZONE_FILE.replace("imported.org.", "quota.org."))
    assert over["status"] == "ERROR" and "Quota" in over["message"]
    dns.ok("PATCH", f"/quotas/{dns.projects['a']}", "admin", json={"zones": 10,
                                                                   "zone_recordsets": 4})
    over = import_file(dns, ZONE_FILE.replace("imported.org.", "quota.org."))
    assert over["status"] == "ERROR" and "zone_recordsets" in over["message"]
    assert dns.ok("GET", "/zones")["zones"] == []
    # not a zone file, too large, a reader
    resp = dns.client.post(f"{V2}/zones/tasks/imports", json={"zone": "x"},
                           headers={"X-Auth-Token": dns.token("alice")})
    error(resp, 415, "unsupported_content_type")
    resp = dns.client.post(f"{V2}/zones/tasks/imports", content=b";" * 200_000, headers={
        "X-Auth-Token": dns.token("alice"), "Content-Type": "text/dns"})
    error(resp, 413, "over_quota")
    resp = dns.client.post(f"{V2}/zones/tasks/imports", content=ZONE_FILE.encode(), headers={
        "X-Auth-Token": dns.token("ann"), "Content-Type": "text/dns"})
    error(resp, 403, "forbidden")


def test_zone_file_module_uses_dnspython_zones() -> None:
    from labs.dns.zonefile import parse, render

    parsed = parse(ZONE_FILE.encode())
    text = render(parsed.name, parsed.ttl, [(n, t, ttl, r) for n, t, ttl, r in
                                            parsed.recordsets])
    assert dnszone.from_text(text.split("\n\n", 1)[1], origin="imported.org.",
                              relativize=False, check_origin=False)


def test_odd_zone_files_are_errors_not_crashes(dns: Dns) -> None:
    for text in ("", "\n", "$TTL 60\n", "$ORIGIN .\n", "$INCLUDE /etc/passwd\n",
                 "$GENERATE 1-100000 a$ A 10.0.0.$\n", "@ IN SOA\n",
                 ZONE_FILE + "$GENERATE 1-4000000000 h$ A 10.0.0.1\n"):
        made = import_file(dns, text)
        assert made["status"] == "ERROR" and made["message"], (text, made)
