"""DNS through the unchanged `openstack` CLI (python-designateclient) against `labs up`,
and the embedded server answering `dig`."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN, RunningCloud, dig, dig_status, start_labs_up

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dns_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningCloud, int]]:
    """`labs up` with the fake virt driver; its embedded DNS server's port (from the log)."""
    base = tmp_path_factory.mktemp("labs-dns-e2e")
    cloud = start_labs_up(base / "data", {"LABS_AGENT_DRIVER": "fake",
                                          "LABS_IMAGE_BOOTSTRAP_IMAGE": "false"})
    try:
        log = next(base.glob("labs-up-*.log")).read_text()
        found = re.search(r"DNS: the embedded server answers on 127\.0\.0\.1 port (\d+)", log)
        assert found, log[-2000:]
        yield cloud, int(found.group(1))
    finally:
        cloud.stop()


def wait_for(check: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not {what} after {timeout} s")


def test_catalog_has_dns(dns_cloud: tuple[RunningCloud, int]) -> None:
    cloud, _ = dns_cloud
    catalog = cloud.openstack_json("catalog", "list")
    assert "dns" in [c["Type"] for c in catalog]


def test_zone_and_recordset_life(dns_cloud: tuple[RunningCloud, int], tmp_path: Path) -> None:
    c, port = dns_cloud
    zone = c.openstack_json("zone", "create", "--email", "hostmaster@e2e.example.org",
                            "e2e.example.org.")
    assert zone["name"] == "e2e.example.org." and zone["action"] == "CREATE"
    assert zone["status"] == "PENDING"
    shown = c.openstack_json("zone", "show", "e2e.example.org.")
    assert shown["id"] == zone["id"] and shown["status"] == "ACTIVE"
    assert shown["email"] == "hostmaster@e2e.example.org"
    listed = c.openstack_json("zone", "list")
    # the admin project also owns the zones the cloud makes for its VMs (the forward
    # zone, and the reverse zones of the fixed and the floating ranges)
    assert sorted((z["name"], z["status"]) for z in listed) == [
        ("4.24.172.in-addr.arpa.", "ACTIVE"), ("68.10.in-addr.arpa.", "ACTIVE"),
        ("e2e.example.org.", "ACTIVE"), ("labs.internal.", "ACTIVE")]

    made = c.openstack_json("recordset", "create", "--type", "A", "--record", "10.68.0.7",
                            "e2e.example.org.", "www")
    assert made["name"] == "www.e2e.example.org." and made["records"] == "10.68.0.7"
    rows = {(r["name"], r["type"]) for r in c.openstack_json("recordset", "list",
                                                              "e2e.example.org.")}
    assert rows == {("e2e.example.org.", "SOA"), ("e2e.example.org.", "NS"),
                    ("www.e2e.example.org.", "A")}
    assert dig(port, "www.e2e.example.org.") == ["10.68.0.7"]
    serial = int(dig(port, "e2e.example.org.", "SOA")[0].split()[2])
    assert serial == c.openstack_json("zone", "show", "e2e.example.org.")["serial"]

    # the demo project sees none of it
    assert c.openstack_json("zone", "list", cloud="labs-demo") == []
    other = c.openstack("zone", "show", zone["id"], cloud="labs-demo", check=False)
    assert other.returncode != 0 and "Could not find Zone" in other.stderr

    c.openstack("recordset", "delete", "e2e.example.org.", "www.e2e.example.org.")
    wait_for(lambda: dig(port, "www.e2e.example.org.") == [], "removed from DNS")
    gone = c.openstack("recordset", "show", "e2e.example.org.", "www.e2e.example.org.",
                       check=False)
    assert gone.returncode != 0

    deleted = c.openstack_json("zone", "delete", "e2e.example.org.")
    assert deleted["action"] == "DELETE" and deleted["status"] == "PENDING"
    wait_for(lambda: "e2e.example.org." not in {z["name"] for z in c.openstack_json(
        "zone", "list")}, "zone gone")
    refused = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+time=2", "+tries=1",
                              "e2e.example.org.", "SOA"], capture_output=True, text=True,
                             timeout=20, check=True)
    assert "status: REFUSED" in refused.stdout


def test_errors_reach_the_cli(dns_cloud: tuple[RunningCloud, int]) -> None:
    c, _ = dns_cloud
    c.openstack("zone", "create", "--email", "a@errors.example.org", "errors.example.org.")
    again = c.openstack("zone", "create", "--email", "a@errors.example.org",
                        "errors.example.org.", check=False)
    assert again.returncode != 0 and "Duplicate Zone" in again.stderr
    outside = c.openstack("recordset", "create", "--type", "A", "--record", "10.0.0.1",
                          "errors.example.org.", "www.elsewhere.org.", check=False)
    assert outside.returncode != 0 and "not contained within" in outside.stderr
    bad = c.openstack("recordset", "create", "--type", "A", "--record", "10.0.0.300",
                      "errors.example.org.", "www", check=False)
    assert bad.returncode != 0 and "is not an IPv4 address" in bad.stderr


def test_every_server_gets_a_name_and_loses_it(dns_cloud: tuple[RunningCloud, int],
                                               tmp_path: Path) -> None:
    """The sink: A and PTR records within a second of ACTIVE; NXDOMAIN after delete."""
    c, port = dns_cloud
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * 65536)
    c.openstack("image", "create", "--disk-format", "raw", "--container-format", "bare",
                "--file", str(disk), "tiny")
    server = c.openstack_json("server", "create", "--image", "tiny", "--flavor", "g1.nano",
                              "--wait", "web-1")
    active = time.monotonic()
    address = str(server["addresses"]["lan"][0])
    fqdn = "web-1.admin.labs.internal."
    reverse = ".".join(reversed(address.split("."))) + ".in-addr.arpa."
    wait_for(lambda: dig(port, fqdn) == [address] and dig(port, reverse, "PTR") == [fqdn],
             "named", timeout=5)
    assert time.monotonic() - active < 1.0 + 0.5  # one second, plus the dig processes
    assert dig(port, "labs.internal.", "SOA") and dig(port, "68.10.in-addr.arpa.", "SOA")
    c.openstack("server", "delete", "--wait", server["id"])
    wait_for(lambda: dig_status(port, fqdn) == "NXDOMAIN", "the name gone", timeout=5)
    assert dig_status(port, reverse, "PTR") == "NXDOMAIN"


def test_the_same_names_through_powerdns(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`[dns] backend = powerdns`: a private pdns-server serves what the embedded server
    would (a server's A and PTR records; NXDOMAIN after delete; a project's zone)."""
    from tests.dns.powerdns_helpers import PowerDnsServer

    base = tmp_path_factory.mktemp("labs-dns-pdns")
    pdns = PowerDnsServer.start(base / "pdns")
    try:
        cloud = start_labs_up(base / "data", {
            "LABS_AGENT_DRIVER": "fake", "LABS_IMAGE_BOOTSTRAP_IMAGE": "false",
            "LABS_DNS_BACKEND": "powerdns", "LABS_DNS_POWERDNS_API_URL": pdns.api_url,
            "LABS_DNS_POWERDNS_API_KEY": pdns.api_key})
        try:
            port = pdns.dns_port
            disk = base / "disk.raw"
            disk.write_bytes(b"\0" * 65536)
            cloud.openstack("image", "create", "--disk-format", "raw", "--container-format",
                            "bare", "--file", str(disk), "tiny")
            server = cloud.openstack_json("server", "create", "--image", "tiny", "--flavor",
                                          "g1.nano", "--wait", "db-1")
            address = str(server["addresses"]["lan"][0])
            fqdn = "db-1.admin.labs.internal."
            reverse = ".".join(reversed(address.split("."))) + ".in-addr.arpa."
            wait_for(lambda: dig(port, fqdn) == [address]
                     and dig(port, reverse, "PTR") == [fqdn], "named by PowerDNS", timeout=5)
            cloud.openstack("zone", "create", "--email", "hostmaster@pdns.example.org",
                            "pdns.example.org.")
            cloud.openstack("recordset", "create", "--type", "A", "--record", "10.68.0.9",
                            "pdns.example.org.", "www")
            wait_for(lambda: dig(port, "www.pdns.example.org.") == ["10.68.0.9"],
                     "a project's record in PowerDNS", timeout=10)
            cloud.openstack("server", "delete", "--wait", server["id"])
            wait_for(lambda: dig_status(port, fqdn) == "NXDOMAIN", "the name gone", timeout=5)
            assert dig_status(port, reverse, "PTR") == "NXDOMAIN"
        finally:
            cloud.stop()
    finally:
        pdns.stop()


def test_members_take_no_public_names(dns_cloud: tuple[RunningCloud, int]) -> None:
    """A member's `openstack zone create pypi.org.` is refused, its project's own part of
    the cloud's domain is not; blacklisted names are for admins; admins take any name."""
    c, port = dns_cloud
    hijack = c.openstack("zone", "create", "--email", "a@pypi.org", "pypi.org.",
                         cloud="labs-demo", check=False)
    assert hijack.returncode != 0 and "pypi.org. is for admins" in hijack.stderr, \
        hijack.stderr
    others = c.openstack("zone", "create", "--email", "a@x.org", "admin.labs.internal.",
                         cloud="labs-demo", check=False)
    assert others.returncode != 0, others.stdout
    own = c.openstack_json("zone", "create", "--email", "hm@demo.org",
                           "tools.demo.labs.internal.", cloud="labs-demo")
    assert own["name"] == "tools.demo.labs.internal."

    made = c.openstack_json("zone", "blacklist", "create", "--pattern",
                            r"^bad\.demo\.labs\.internal\.$", "--description", "not this")
    listed = c.openstack_json("zone", "blacklist", "list")
    assert [b["pattern"] for b in listed] == [r"^bad\.demo\.labs\.internal\.$"]
    denied = c.openstack("zone", "blacklist", "list", cloud="labs-demo", check=False)
    assert denied.returncode != 0
    blacklisted = c.openstack("zone", "create", "--email", "hm@demo.org",
                              "bad.demo.labs.internal.", cloud="labs-demo", check=False)
    assert blacklisted.returncode != 0 and "Blacklisted zone name" in blacklisted.stderr
    c.openstack("zone", "blacklist", "delete", made["id"])

    public = c.openstack_json("zone", "create", "--email", "a@pypi.org", "pypi.org.")
    assert public["name"] == "pypi.org."
    wait_for(lambda: dig(port, "pypi.org.", "SOA") != [], "pypi.org. served")
    for name, cloud in (("pypi.org.", "labs"), ("tools.demo.labs.internal.", "labs-demo")):
        c.openstack("zone", "delete", name, cloud=cloud)


def test_zone_export_and_import(dns_cloud: tuple[RunningCloud, int], tmp_path: Path) -> None:
    c, port = dns_cloud
    c.openstack("zone", "create", "--email", "hm@export.example.org", "--ttl", "900",
                "export.example.org.")
    c.openstack("recordset", "create", "--type", "A", "--record", "10.68.0.9",
                "--ttl", "60", "export.example.org.", "www")
    export = c.openstack_json("zone", "export", "create", "export.example.org.")
    wait_for(lambda: c.openstack_json("zone", "export", "show", export["id"])["status"]
             == "COMPLETE", "exported")
    assert export["id"] in {e["id"] for e in c.openstack_json("zone", "export", "list")}
    text = c.openstack_json("zone", "export", "showfile", export["id"])["data"]
    assert text.startswith("$ORIGIN export.example.org.\n$TTL 900\n")
    assert "www.export.example.org. 60 IN A 10.68.0.9" in text

    # the file, renamed, imported by the demo project (its own subdomain of the cloud's)
    zone_file = tmp_path / "demo.zone"
    zone_file.write_text(text.replace("export.example.org.", "shop.demo.labs.internal."))
    made = c.openstack_json("zone", "import", "create", str(zone_file), cloud="labs-demo")
    assert made["status"] == "COMPLETE", made
    shown = c.openstack_json("zone", "import", "show", made["id"], cloud="labs-demo")
    assert shown["zone_id"] == made["zone_id"]
    assert [i["id"] for i in c.openstack_json("zone", "import", "list",
                                              cloud="labs-demo")] == [made["id"]]
    wait_for(lambda: dig(port, "www.shop.demo.labs.internal.") == ["10.68.0.9"], "served")
    bad = tmp_path / "bad.zone"
    bad.write_text("not a zone file\n")
    failed = c.openstack_json("zone", "import", "create", str(bad), cloud="labs-demo")
    assert failed["status"] == "ERROR" and failed["message"]
    c.openstack("zone", "import", "delete", failed["id"], cloud="labs-demo")
    assert failed["id"] not in {i["id"] for i in c.openstack_json(
        "zone", "import", "list", cloud="labs-demo")}
    assert c.openstack("zone", "export", "show", export["id"], cloud="labs-demo",
                       check=False).returncode != 0


def test_zone_transfer(dns_cloud: tuple[RunningCloud, int]) -> None:
    c, _ = dns_cloud
    demo = c.openstack_json("token", "issue", cloud="labs-demo")["project_id"]
    c.openstack("zone", "create", "--email", "hm@gift.demo.labs.internal",
                "gift.demo.labs.internal.")
    c.openstack("recordset", "create", "--type", "TXT", "--record", '"a gift"',
                "gift.demo.labs.internal.", "note")
    request = c.openstack_json("zone", "transfer", "request", "create", "--target-project-id",
                               demo, "--description", "for demo", "gift.demo.labs.internal.")
    assert request["status"] == "ACTIVE" and request["key"]
    assert request["id"] in {r["id"] for r in c.openstack_json(
        "zone", "transfer", "request", "list")}
    seen = c.openstack_json("zone", "transfer", "request", "show", request["id"],
                            cloud="labs-demo")
    assert seen["zone_name"] == "gift.demo.labs.internal." and not seen["key"]
    wrong = c.openstack("zone", "transfer", "accept", "request", "--transfer-id",
                        request["id"], "--key", "WRONG", cloud="labs-demo", check=False)
    assert wrong.returncode != 0 and "Key does not match" in wrong.stderr
    accepted = c.openstack_json("zone", "transfer", "accept", "request", "--transfer-id",
                                request["id"], "--key", request["key"], cloud="labs-demo")
    assert accepted["status"] == "COMPLETE"
    zone = c.openstack_json("zone", "show", "gift.demo.labs.internal.", cloud="labs-demo")
    assert zone["project_id"] == demo
    assert "note.gift.demo.labs.internal." in {r["name"] for r in c.openstack_json(
        "recordset", "list", "gift.demo.labs.internal.", cloud="labs-demo")}
    assert "gift.demo.labs.internal." not in {z["name"] for z in c.openstack_json("zone", "list")}
    # a request withdrawn
    c.openstack("zone", "create", "--email", "hm@kept.example.org", "kept.example.org.")
    kept = c.openstack_json("zone", "transfer", "request", "create", "kept.example.org.")
    c.openstack("zone", "transfer", "request", "delete", kept["id"])
    assert kept["id"] not in {r["id"] for r in c.openstack_json(
        "zone", "transfer", "request", "list")}


def test_service_statuses(dns_cloud: tuple[RunningCloud, int]) -> None:
    c, _ = dns_cloud
    wait_for(lambda: {(s["service_name"], s["status"]) for s in c.openstack_json(
        "dns", "service", "list")} == {("api", "UP"), ("server", "UP"), ("sink", "UP"),
                                        ("publisher", "UP")}, "every part UP", timeout=30)
    listed = c.openstack_json("dns", "service", "list")
    server = next(s for s in listed if s["service_name"] == "server")
    shown = c.openstack_json("dns", "service", "show", server["id"])
    assert shown["hostname"] == server["hostname"] and shown["status"] == "UP"
    denied = c.openstack("dns", "service", "list", cloud="labs-demo", check=False)
    assert denied.returncode != 0


def test_floating_ip_ptr_records(dns_cloud: tuple[RunningCloud, int]) -> None:
    c, port = dns_cloud
    made = c.openstack_json("floating", "ip", "create", "public", cloud="labs-demo")
    address, key = made["floating_ip_address"], f"RegionOne:{made['id']}"
    reverse = ".".join(reversed(address.split("."))) + ".in-addr.arpa."
    listed = c.openstack_json("ptr", "record", "list", cloud="labs-demo")
    assert [(p["id"], p["ptrdname"] or None) for p in listed] == [(key, None)]
    c.openstack_json("ptr", "record", "set", "--ttl", "600", "--description", "shop",
                     key, "shop.demo.example.org.", cloud="labs-demo")
    wait_for(lambda: dig(port, reverse, "PTR") == ["shop.demo.example.org."], "PTR served")
    shown = c.openstack_json("ptr", "record", "show", key, cloud="labs-demo")
    assert (shown["ptrdname"], shown["ttl"], shown["address"]) == (
        "shop.demo.example.org.", 600, address)
    # the admin project does not hold it
    other = c.openstack("ptr", "record", "set", key, "evil.example.org.", check=False)
    assert other.returncode != 0
    c.openstack("ptr", "record", "unset", key, cloud="labs-demo")
    wait_for(lambda: dig_status(port, reverse, "PTR") == "NXDOMAIN", "PTR gone")
    assert not c.openstack_json("ptr", "record", "show", key, cloud="labs-demo")["ptrdname"]


def test_the_accounts_directory(dns_cloud: tuple[RunningCloud, int]) -> None:
    """`labs up` runs a private slapd, logs where it answers beside the DNS server's
    line, and `labs status` shows it answering the read-only bind the log names."""
    c, _ = dns_cloud
    log = next(c.data_dir.parent.glob("labs-up-*.log")).read_text()
    found = re.search(r"directory: the private slapd answers on (ldap://127\.0\.0\.1:\d+) "
                      r"and ldapi://\S+ \(base dc=labs,dc=local\); read-only bind "
                      r"cn=reader,dc=labs,dc=local, its password in (\S+)", log)
    assert found, log[-3000:]
    url, password_file = found.groups()
    assert Path(password_file) == c.data_dir / "directory" / "reader.password"
    listed = subprocess.run(["ldapsearch", "-x", "-LLL", "-H", url, "-D",
                             "cn=reader,dc=labs,dc=local", "-y", password_file, "-b",
                             "dc=labs,dc=local", "-s", "one", "dn"], capture_output=True,
                            text=True, timeout=20, check=False)
    assert listed.returncode == 0, listed.stderr
    assert "dn: ou=people,dc=labs,dc=local" in listed.stdout
    status = subprocess.run([str(BIN / "labs"), "status", "--data-dir", str(c.data_dir)],
                            capture_output=True, text=True, timeout=90, check=False)
    assert f"directory: {url} (base dc=labs,dc=local), the private slapd (pid " \
        in status.stdout, status.stdout
    assert f"  read-only bind cn=reader,dc=labs,dc=local, its password in {password_file}" \
        in status.stdout
    assert "  answers: yes, bound as cn=reader,dc=labs,dc=local" in status.stdout
