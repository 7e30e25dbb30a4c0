"""Aggregates, the deprecated ``os-hosts`` and ``remote-consoles`` through the bare
compute API (see test_api_resources for the fixture)."""

from __future__ import annotations

import pytest

from tests.compute import test_api_resources as resources
from tests.compute.test_api_resources import Compute, fault
from tests.fuzzing import mariadb_only  # noqa: F401 -- one engine: MariaDB

compute = resources.compute


def test_aggregates_none_and_admin_only(compute: Compute) -> None:
    assert compute.ok("GET", "/os-aggregates", "admin") == {"aggregates": []}
    assert fault(compute.call("GET", "/os-aggregates/7", "admin"), 404) == (
        "Aggregate 7 could not be found.")
    assert fault(compute.call("GET", "/os-aggregates/x", "admin"), 400) == (
        "Invalid input received: id must be an integer")
    fault(compute.call("PUT", "/os-aggregates/7", "admin",
                       json={"aggregate": {"name": "n"}}), 404)
    fault(compute.call("DELETE", "/os-aggregates/7", "admin"), 404)
    fault(compute.call("POST", "/os-aggregates/7/action", "admin",
                       json={"add_host": {"host": "h1"}}), 404)
    for who in ("alice", "ann", "bob"):
        fault(compute.call("GET", "/os-aggregates", who), 403)
        fault(compute.call("GET", "/os-aggregates/7", who), 403)
        fault(compute.call("DELETE", "/os-aggregates/7", who), 403)


def test_os_hosts_until_2_42(compute: Compute) -> None:
    compute.agent("h1")
    compute.agent("h2", "az2")
    compute.server("a", host="h1", vcpus=2, ram=1024)
    compute.server("a", host="h1")
    compute.server("b", host="h1")
    compute.conductor.heartbeat("ctl", "nova-conductor")
    listed = compute.ok("GET", "/os-hosts", "admin", version="2.42")["hosts"]
    assert {(h["host_name"], h["service"], h["zone"]) for h in listed} == {
        ("h1", "compute", "nova"), ("h2", "compute", "az2"), ("ctl", "conductor", "internal")}
    assert compute.ok("GET", "/os-hosts", "admin", version="2.42",
                      params={"zone": "az2"})["hosts"] == [
        {"host_name": "h2", "service": "compute", "zone": "az2"}]
    shown = [r["resource"] for r in compute.ok("GET", "/os-hosts/h1", "admin",
                                               version="2.1")["host"]]
    by_project = {r["project"]: (r["cpu"], r["memory_mb"], r["disk_gb"]) for r in shown}
    assert [r["project"] for r in shown[:3]] == ["(total)", "(used_now)", "(used_max)"]
    assert by_project["(total)"] == (8, 16384, 200)
    assert by_project["(used_now)"] == by_project["(used_max)"] == (4, 2048, 3)
    assert by_project[compute.projects["a"]] == (3, 1536, 2)
    assert by_project[compute.projects["b"]] == (1, 512, 1)
    assert all(r["host"] == "h1" for r in shown)
    assert fault(compute.call("GET", "/os-hosts/nowhere", "admin", version="2.42"),
                 404) == "Compute host nowhere could not be found."
    fault(compute.call("GET", "/os-hosts", "admin", version="2.43"), 404)
    fault(compute.call("GET", "/os-hosts/h1", "admin", version="2.43"), 404)
    for who in ("alice", "ann", "bob"):
        fault(compute.call("GET", "/os-hosts", who, version="2.42"), 403)
        fault(compute.call("GET", "/os-hosts/h1", who, version="2.42"), 403)


@pytest.mark.parametrize("protocol,kind", [("vnc", "novnc"), ("serial", "serial"),
                                           ("spice", "spice-html5")])
def test_remote_console_types_are_unavailable(compute: Compute, protocol: str,
                                              kind: str) -> None:
    compute.agent("h1")
    server = compute.server("a", host="h1")
    body = {"remote_console": {"protocol": protocol, "type": kind}}
    path = f"/servers/{server}/remote-consoles"
    assert fault(compute.call("POST", path, json=body), 400) == (
        f"Unavailable console type {kind}.")
    fault(compute.call("POST", path, "admin", json=body), 400)
    fault(compute.call("POST", path, "bob", json=body), 404)  # another project's server
    fault(compute.call("POST", path, "ann", json=body), 403)  # a reader
    fault(compute.call("POST", path, version="2.5", json=body), 404)


def test_remote_console_bad_input(compute: Compute) -> None:
    compute.agent("h1")
    path = f"/servers/{compute.server('a', host='h1')}/remote-consoles"
    bodies: list[object] = [{}, {"remote_console": {"protocol": "vnc"}},
                 {"remote_console": {"protocol": "telnet", "type": "novnc"}},
                 {"remote_console": {"protocol": "vnc", "type": "novnc", "x": 1}}, []]
    for body in bodies:
        fault(compute.call("POST", path, json=body), 400)
    mks = {"remote_console": {"protocol": "mks", "type": "webmks"}}
    fault(compute.call("POST", path, version="2.7", json=mks), 400)
    assert fault(compute.call("POST", path, version="2.8", json=mks), 400) == (
        "Unavailable console type webmks.")
    unplaced = compute.server("a")
    fault(compute.call("POST", f"/servers/{unplaced}/remote-consoles",
                       json={"remote_console": {"protocol": "vnc", "type": "novnc"}}), 409)
