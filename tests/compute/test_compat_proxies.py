"""Nova's older read APIs: the image proxy and os-networks (up to 2.35), simple tenant
usage, the version list and the extensions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from labs.identity.resources import ProjectFilter
from tests.compute.conftest import Plane
from tests.compute.test_server_networks import neutron
from tests.fuzzing import mariadb_only  # noqa: F401 -- one engine: MariaDB

OLD = "2.35"


def private_image(plane: Plane, who: str, name: str) -> str:
    made = plane.client.post("/image/v2/images", headers={"X-Auth-Token": plane.token(who)},
                             json={"name": name, "disk_format": "raw",
                                   "container_format": "bare", "min_ram": 64})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_image_proxy(plane: Plane) -> None:
    listed = plane.ok("GET", "/images", version=OLD)["images"]
    assert [(i["id"], i["name"]) for i in listed] == [(plane.image_id, "cirros")]
    assert [link["rel"] for link in listed[0]["links"]][:2] == ["self", "bookmark"]
    (detail,) = plane.ok("GET", "/images/detail", version=OLD)["images"]
    shown = plane.ok("GET", f"/images/{plane.image_id}", version=OLD)["image"]
    assert detail == shown
    assert shown["status"] == "ACTIVE" and shown["progress"] == 100
    assert shown["OS-EXT-IMG-SIZE:size"] == 4096
    assert (shown["minRam"], shown["minDisk"], shown["metadata"]) == (0, 0, {})
    assert shown["created"].endswith("Z") and shown["updated"].endswith("Z")
    # another project's private image is not there for alice; a queued one is SAVING
    bobs = private_image(plane, "bob", "bobs")
    assert plane.call("GET", f"/images/{bobs}", version=OLD).status_code == 404
    assert plane.call("DELETE", f"/images/{bobs}", version=OLD).status_code == 404
    of_bob = plane.ok("GET", f"/images/{bobs}", "bob", version=OLD)["image"]
    assert (of_bob["status"], of_bob["progress"], of_bob["minRam"]) == ("SAVING", 25, 64)
    assert {i["name"] for i in plane.ok("GET", "/images?name=bobs", "bob",
                                        version=OLD)["images"]} == {"bobs"}
    assert plane.ok("GET", "/images?status=SAVING", version=OLD)["images"] == []
    # gone from 2.36; bad input is a 4xx
    for path in ("/images", "/images/detail", f"/images/{plane.image_id}"):
        assert plane.call("GET", path, version="2.36").status_code == 404
    assert plane.call("GET", "/images/nope", version=OLD).status_code == 404
    assert plane.call("GET", "/images?marker=nope", version=OLD).status_code == 400
    assert plane.call("GET", "/images?limit=-1", version=OLD).status_code == 400
    one = plane.ok("GET", "/images?limit=1", "bob", version=OLD)
    assert len(one["images"]) == 1 and one["images_links"][0]["rel"] == "next"
    # delete: not by a reader, nor the public image by a member; the owner may
    assert plane.call("DELETE", f"/images/{bobs}", "ann", version=OLD).status_code == 403
    assert plane.call("DELETE", f"/images/{plane.image_id}", version=OLD).status_code == 403
    assert plane.call("DELETE", f"/images/{bobs}", "bob", version=OLD).status_code == 204
    assert plane.call("GET", f"/images/{bobs}", "bob", version=OLD).status_code == 404


def test_os_networks(plane: Plane) -> None:
    blue = neutron(plane, "network", {"name": "blue"})
    neutron(plane, "subnet", {"network_id": blue["id"], "cidr": "192.168.77.0/24",
                              "dns_nameservers": ["192.0.2.53"]})
    # the project's own and the cloud's external network, as Neutron lists them
    listed = plane.ok("GET", "/os-networks", version=OLD)["networks"]
    assert blue["id"] in [n["id"] for n in listed] and len(listed) == 2
    shown = plane.ok("GET", f"/os-networks/{blue['id']}", "ann", version=OLD)["network"]
    assert shown == next(n for n in listed if n["id"] == blue["id"])
    assert (shown["label"], shown["cidr"], shown["netmask"], shown["gateway"],
            shown["broadcast"], shown["dns1"], shown["dns2"]) == (
        "blue", "192.168.77.0/24", "255.255.255.0", "192.168.77.1", "192.168.77.255",
        "192.0.2.53", None)
    assert "project_id" not in shown and shown["cidr_v6"] is None
    as_admin = plane.ok("GET", f"/os-networks/{blue['id']}", "admin", version=OLD)["network"]
    assert as_admin["project_id"] == plane.show(plane.create()["id"])["tenant_id"]
    assert as_admin["mtu"] and as_admin["enable_dhcp"] is True
    assert blue["id"] not in [n["id"] for n in plane.ok(
        "GET", "/os-networks", "bob", version=OLD)["networks"]]
    resp = plane.call("GET", f"/os-networks/{blue['id']}", "bob", version=OLD)
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == (
        f"Network {blue['id']} could not be found.")
    assert plane.call("GET", "/os-networks", version="2.36").status_code == 404
    assert plane.call("GET", f"/os-networks/{blue['id']}", version="2.36").status_code == 404


def _day(delta: int) -> str:
    return (datetime.now(UTC) + timedelta(days=delta)).strftime("%Y-%m-%dT%H:%M:%S")


def test_simple_tenant_usage(plane: Plane) -> None:
    server = plane.create()
    period = f"start={_day(-1)}&end={_day(1)}"
    usage = plane.ok("GET", f"/os-simple-tenant-usage?{period}&detailed=1",
                     "admin")["tenant_usages"]
    (mine,) = [u for u in usage if u["tenant_id"] == server["tenant_id"]]
    (line,) = mine["server_usages"]
    assert (line["instance_id"], line["name"], line["flavor"], line["vcpus"],
            line["memory_mb"], line["local_gb"], line["state"]) == (
        server["id"], "vm", "m1.tiny", 1, 512, 1, "active")
    # as Nova: a server that runs counts to the end of the period, even one to come
    assert 23.9 < line["hours"] < 24.1 and line["ended_at"] is None
    assert mine["total_vcpus_usage"] == line["hours"]
    assert mine["total_memory_mb_usage"] == 512 * line["hours"]
    brief = plane.ok("GET", f"/os-simple-tenant-usage?{period}", "admin")["tenant_usages"]
    assert "server_usages" not in brief[0]
    shown = plane.ok("GET", f"/os-simple-tenant-usage/{server['tenant_id']}?{period}",
                     "ann")["tenant_usage"]
    assert [s["instance_id"] for s in shown["server_usages"]] == [server["id"]]
    # a deleted server still counts, terminated
    plane.ok("DELETE", f"/servers/{server['id']}")
    plane.wait_gone(server["id"])
    shown = plane.ok("GET", f"/os-simple-tenant-usage/{server['tenant_id']}?{period}",
                     )["tenant_usage"]
    assert shown["server_usages"][0]["state"] == "terminated"
    assert shown["server_usages"][0]["ended_at"] is not None
    # a period before it lived, and a project without servers: nothing
    earlier = f"start={_day(-3)}&end={_day(-2)}"
    assert plane.ok("GET", f"/os-simple-tenant-usage/{server['tenant_id']}?{earlier}",
                    )["tenant_usage"] == {}
    (bobs,) = plane.cloud.identity.resources.list_projects(ProjectFilter(name="b"))
    assert plane.ok("GET", f"/os-simple-tenant-usage/{bobs.id}?{period}", "admin") == {
        "tenant_usage": {}}
    # protection and bad input
    assert plane.call("GET", f"/os-simple-tenant-usage?{period}").status_code == 403
    assert plane.call("GET", f"/os-simple-tenant-usage/{server['tenant_id']}?{period}",
                      "bob").status_code == 403
    for query in ("start=yesterday", f"start={_day(1)}&end={_day(-1)}", "end=2020-13-01",
                  # a zone that moves the moment past year 1 or 9999
                  "start=0001-01-01T00:00:00%2B01:00", "end=9999-12-31T23:59:59-01:00"):
        resp = plane.call("GET", f"/os-simple-tenant-usage/{server['tenant_id']}?{query}")
        assert resp.status_code == 400, (query, resp.text)


def test_versions_and_extensions(plane: Plane) -> None:
    versions = plane.client.get("/compute/").json()["versions"]
    assert [(v["id"], v["status"], v["version"], v["min_version"]) for v in versions] == [
        ("v2.0", "SUPPORTED", "", ""), ("v2.1", "CURRENT", "2.100", "2.1")]
    extensions: list[dict[str, Any]] = plane.ok("GET", "/extensions", "ann")["extensions"]
    aliases = {e["alias"] for e in extensions}
    assert {"os-pause-server", "os-simple-tenant-usage", "os-access-ips"} <= aliases
    one = plane.ok("GET", "/extensions/os-pause-server", "bob")["extension"]
    assert one == next(e for e in extensions if e["alias"] == "os-pause-server")
    assert one["name"] == "PauseServer"
    assert plane.call("GET", "/extensions/os-teleport").status_code == 404
    assert plane.client.get("/compute/v2.1/extensions").status_code == 401
