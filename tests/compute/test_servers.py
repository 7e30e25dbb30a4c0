"""Servers end to end through the API with fake agents: builds, power operations,
deletes, states, quotas, groups and faults."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import pytest
import sqlalchemy as sa

from labs.common.bus import InProcessBus, Notification
from labs.compute import models
from labs.identity.resources import ProjectFilter
from tests.compute.conftest import Plane


def _project_id(plane: Plane, name: str) -> str:
    return plane.cloud.identity.resources.list_projects(ProjectFilter(name=name))[0].id


def test_create_show_and_delete(plane: Plane) -> None:
    server = plane.create(name="web-1", metadata={"role": "web"})
    assert server["status"] == "ACTIVE"
    assert server["OS-EXT-STS:power_state"] == 1
    assert server["OS-EXT-STS:vm_state"] == "active"
    assert server["flavor"]["original_name"] == "m1.tiny"
    assert server["metadata"] == {"role": "web"}
    assert server["OS-EXT-AZ:availability_zone"] == "nova"
    assert "OS-EXT-SRV-ATTR:host" not in server  # admins only
    admin_view = plane.show(server["id"], "admin")
    assert admin_view["OS-EXT-SRV-ATTR:host"] in plane.agents
    resp = plane.call("DELETE", f"/servers/{server['id']}")
    assert resp.status_code == 204, resp.text
    plane.wait_gone(server["id"])
    events = plane.ok("GET", f"/servers/{server['id']}/os-instance-actions")
    assert [a["action"] for a in events["instanceActions"]] == ["delete", "create"]


def test_power_operations(plane: Plane) -> None:
    server = plane.create()
    sid = server["id"]
    assert plane.call("POST", f"/servers/{sid}/action", json={"os-stop": None}).status_code == 202
    assert plane.wait(sid, "SHUTOFF")["OS-EXT-STS:power_state"] == 4
    again = plane.call("POST", f"/servers/{sid}/action", json={"os-stop": None})
    assert again.status_code == 409
    assert again.json()["conflictingRequest"]["message"] == (
        f"Cannot 'stop' instance {sid} while it is in vm_state stopped")
    soft = plane.call("POST", f"/servers/{sid}/action", json={"reboot": {"type": "SOFT"}})
    assert soft.status_code == 409
    assert plane.call("POST", f"/servers/{sid}/action",
                      json={"os-start": None}).status_code == 202
    assert plane.wait(sid, "ACTIVE")["OS-EXT-STS:power_state"] == 1
    for kind in ("SOFT", "HARD"):
        resp = plane.call("POST", f"/servers/{sid}/action", json={"reboot": {"type": kind}})
        assert resp.status_code == 202, resp.text
        plane.wait(sid, "ACTIVE")
    actions = [a["action"] for a in plane.ok(
        "GET", f"/servers/{sid}/os-instance-actions")["instanceActions"]]
    assert actions == ["reboot", "reboot", "start", "stop", "create"]
    console = plane.ok("POST", f"/servers/{sid}/action",
                       json={"os-getConsoleOutput": {"length": 2}})
    assert len(console["output"].splitlines()) == 2


def test_quota_is_never_overshot(plane: Plane) -> None:
    body = {"server": {"name": "q", "imageRef": plane.image_id, "flavorRef": "1",
                       "networks": "none"}}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: plane.call("POST", "/servers", json=body).status_code,
                              range(14)))
    assert codes.count(202) == 10 and codes.count(403) == 4, codes
    over = plane.call("POST", "/servers", json=body).json()
    assert over["forbidden"]["message"] == (
        "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances")


def test_no_valid_host_is_a_fault(plane: Plane) -> None:
    plane.service.flavors.create({"id": "huge", "name": "huge", "vcpus": 1,
                                  "ram": 100_000, "disk": 1})
    with plane.service.db.transaction() as tx:
        plane.service.quotas.update(tx, _project_id(plane, "a"), {"ram": -1})
    body = {"server": {"name": "big", "imageRef": plane.image_id, "flavorRef": "huge",
                       "networks": "none"}}
    created = plane.ok("POST", "/servers", json=body)["server"]
    shown = plane.wait(created["id"], "ERROR")
    assert shown["fault"]["message"].startswith("No valid host was found. ")


def test_anti_affinity_spreads_over_hosts(plane: Plane) -> None:
    group = plane.ok("POST", "/os-server-groups", json={
        "server_group": {"name": "g", "policy": "anti-affinity"}})["server_group"]
    hints = {"group": group["id"]}
    made = [plane.ok("POST", "/servers", json={
        "server": {"name": f"g{i}", "imageRef": plane.image_id, "flavorRef": "1",
                   "networks": "none"}, "os:scheduler_hints": hints})["server"]
            for i in range(3)]
    hosts = {plane.wait(s["id"], "ACTIVE", "admin")["OS-EXT-SRV-ATTR:host"] for s in made}
    assert hosts == {"h1", "h2", "h3"}
    fourth = plane.ok("POST", "/servers", json={
        "server": {"name": "g4", "imageRef": plane.image_id, "flavorRef": "1",
                   "networks": "none"}, "os:scheduler_hints": hints})["server"]
    assert plane.wait(fourth["id"], "ERROR")["fault"]["message"].startswith(
        "No valid host was found.")


def test_other_projects_see_nothing(plane: Plane) -> None:
    server = plane.create("alice")
    assert plane.call("GET", f"/servers/{server['id']}", "bob").status_code == 404
    assert plane.call("DELETE", f"/servers/{server['id']}", "bob").status_code == 404
    assert plane.ok("GET", "/servers", "bob")["servers"] == []
    assert plane.call("POST", "/servers", "ann", json={"server": {
        "name": "r", "imageRef": plane.image_id, "flavorRef": "1",
        "networks": "none"}}).status_code == 403
    assert [s["id"] for s in plane.ok("GET", "/servers", "ann")["servers"]] == [server["id"]]


def test_notifications_name_the_instance(plane: Plane) -> None:
    seen: list[Notification] = []
    lock = threading.Lock()

    def keep(note: Notification) -> None:
        with lock:
            seen.append(note)

    listener = InProcessBus(plane.namespace)
    listener.subscribe("compute.instance.#", keep, group="test")
    listener.start()
    try:
        server = plane.create(name="Web One")
        sid = server["id"]
        plane.ok("POST", f"/servers/{sid}/action", json={"os-stop": None})
        plane.wait(sid, "SHUTOFF")
        plane.ok("POST", f"/servers/{sid}/action", json={"os-start": None})
        plane.wait(sid, "ACTIVE")
        plane.ok("POST", f"/servers/{sid}/action", json={"reboot": {"type": "SOFT"}})
        plane.wait(sid, "ACTIVE")
        plane.ok("DELETE", f"/servers/{sid}")
        plane.wait_gone(sid)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with lock:
                if any(n.event_type == "compute.instance.delete.end" for n in seen):
                    break
            time.sleep(0.02)
    finally:
        listener.stop()
    events = [n.event_type for n in seen if n.payload.get("instance_id") == sid]
    assert events == [f"compute.instance.{e}" for e in (
        "create.start", "create.end", "power_off.start", "power_off.end", "power_on.start",
        "power_on.end", "reboot.start", "reboot.end", "delete.start", "delete.end")]
    end = next(n for n in seen if n.event_type == "compute.instance.create.end")
    assert end.publisher_id.startswith("compute.h")
    payload = end.payload
    assert payload["hostname"] == "web-one" and payload["display_name"] == "Web One"
    assert payload["tenant_id"] == _project_id(plane, "a")
    assert payload["state"] == "active" and payload["instance_type"] == "m1.tiny"
    assert payload["fixed_ips"] == [] and payload["host"] == end.publisher_id[len("compute."):]


def test_a_disabled_service_gets_no_builds(plane: Plane) -> None:
    services = plane.ok("GET", "/os-services?binary=nova-compute", "admin")["services"]
    for service in services:
        if service["host"] != "h2":
            plane.ok("PUT", f"/os-services/{service['id']}", "admin",
                     json={"status": "disabled", "disabled_reason": "maintenance"})
    made = [plane.create(name=f"d{i}", wait="ACTIVE") for i in range(3)]
    hosts = {plane.show(s["id"], "admin")["OS-EXT-SRV-ATTR:host"] for s in made}
    assert hosts == {"h2"}
    listed = plane.ok("GET", "/os-services?binary=nova-compute", "admin")["services"]
    assert {s["host"]: s["status"] for s in listed} == {
        "h1": "disabled", "h2": "enabled", "h3": "disabled"}


def test_rebuild_keeps_the_server_and_changes_its_image(plane: Plane) -> None:
    server = plane.create(name="old")
    sid = server["id"]
    resp = plane.call("POST", f"/servers/{sid}/action", json={
        "rebuild": {"imageRef": plane.image_id, "name": "new", "metadata": {"v": "2"}}})
    assert resp.status_code == 202, resp.text
    assert resp.json()["server"]["status"] == "REBUILD"
    done = plane.wait(sid, "ACTIVE")
    assert (done["name"], done["metadata"]) == ("new", {"v": "2"})
    actions = [a["action"] for a in plane.ok(
        "GET", f"/servers/{sid}/os-instance-actions")["instanceActions"]]
    assert actions == ["rebuild", "create"]
    missing = plane.call("POST", f"/servers/{sid}/action", json={
        "rebuild": {"imageRef": "00000000-0000-0000-0000-000000000000"}})
    assert missing.status_code == 400


def test_snapshot_and_rebuild_metadata_are_checked(plane: Plane,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """createImage metadata never sets an image's own fields nor Glance's reserved
    names, and counts against metadata_items (403, as Nova); nor does rebuild's."""
    images = plane.service.servers.images
    monkeypatch.setattr(images, "url", "http://127.0.0.1:9/image")  # nothing listens
    monkeypatch.setattr(plane.service.servers.agents, "snapshot_instance",
                        lambda *args: None)
    sid = plane.create(name="snap", metadata={"v": "1"})["id"]
    for key in ("id", "visibility", "min_disk", "owner", "status", "tags", "name",
                "os_glance_import_task"):
        resp = plane.call("POST", f"/servers/{sid}/action", json={
            "createImage": {"name": "s", "metadata": {key: "1"}}})
        assert resp.status_code == 400, (key, resp.text)
        assert f"'{key}'" in resp.json()["badRequest"]["message"]
    with plane.service.db.transaction() as tx:
        plane.service.quotas.update(tx, _project_id(plane, "a"), {"metadata_items": 2})
    many = {"a": "1", "b": "2", "c": "3"}
    over = plane.call("POST", f"/servers/{sid}/action", json={
        "createImage": {"name": "s", "metadata": many}})
    assert over.status_code == 403
    assert over.json()["forbidden"]["message"] == "Image metadata limit exceeded"
    assert plane.show(sid)["OS-EXT-STS:task_state"] is None  # nothing half-done
    made = plane.call("POST", f"/servers/{sid}/action", json={
        "createImage": {"name": "s", "metadata": {"purpose": "backup"}}})
    assert made.status_code == 202, made.text
    image = images.find(plane.cloud.identity.tokens.authenticate(plane.token("alice")),
                        made.json()["image_id"])
    assert image is not None and image.name == "s"
    assert image.properties["purpose"] == "backup"
    assert image.properties["instance_uuid"] == sid
    with plane.service.db.transaction() as tx:
        tx.execute(sa.update(models.Instance).where(models.Instance.id == sid)
                   .values(task_state=None))
    rebuilt = plane.call("POST", f"/servers/{sid}/action", json={
        "rebuild": {"imageRef": plane.image_id, "metadata": many}})
    assert rebuilt.status_code == 403
    assert rebuilt.json()["forbidden"]["message"] == (
        "Quota exceeded for metadata_items: Requested 3, but the limit is 2")
    shown = plane.show(sid)
    assert shown["status"] == "ACTIVE" and shown["metadata"] == {"v": "1"}


def test_delete_while_the_agent_is_down_and_its_return(plane: Plane) -> None:
    server = plane.create(name="orphan")
    sid = server["id"]
    host = plane.show(sid, "admin")["OS-EXT-SRV-ATTR:host"]
    plane.stop_agent(host)
    service = next(s for s in plane.ok("GET", f"/os-services?host={host}", "admin")["services"]
                   if s["binary"] == "nova-compute")
    plane.ok("PUT", f"/os-services/{service['id']}", "admin", json={"forced_down": True})
    assert plane.call("DELETE", f"/servers/{sid}").status_code == 204
    assert plane.call("GET", f"/servers/{sid}").status_code == 404  # at once, no agent
    limits = plane.ok("GET", "/limits")["limits"]["absolute"]
    assert limits["totalInstancesUsed"] == 0
    agent = plane.add_agent(host)  # it still runs the VM nobody wants: it cleans up
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and agent.driver.list_instances():
        time.sleep(0.02)
    assert agent.driver.list_instances() == []
