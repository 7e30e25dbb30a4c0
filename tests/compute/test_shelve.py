"""Shelve, offload and unshelve; backups with rotation; crash dumps: through the API with
fake agents, the image API served on loopback so that agents upload and delete images
as they would in a cloud."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from labs.compute import models
from labs.compute.config import ComputeOptions
from labs.compute.virt.fake import FakeDriver
from labs.identity.resources import ProjectFilter
from tests.compute.conftest import Plane, make_plane
from tests.conftest import Cloud
from tests.fuzzing import (
    mariadb_only,  # noqa: F401 -- one engine: MariaDB
    serve,
)


def _serve(plane: Plane) -> Iterator[None]:
    """The plane's APIs on a loopback port; the image API's URL is what agents use."""
    with serve(plane.client.app) as url:
        plane.service.servers.images.url = f"{url}/image"  # type: ignore[attr-defined]
        yield


@pytest.fixture
def served(cloud: Cloud, tmp_path: Path) -> Iterator[Plane]:
    for plane in make_plane(cloud, tmp_path, hosts=("h1", "h2")):
        for _ in _serve(plane):
            yield plane


def act(plane: Plane, sid: str, body: dict[str, Any], who: str = "alice",
        version: str = "2.100") -> Any:
    return plane.call("POST", f"/servers/{sid}/action", who, json=body, version=version)


def wait_task(plane: Plane, sid: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = plane.show(sid)
        if shown["OS-EXT-STS:task_state"] is None:
            return shown
        time.sleep(0.02)
    raise AssertionError(f"server {sid} still busy: {shown}")


def image(plane: Plane, image_id: str) -> dict[str, Any] | None:
    resp = plane.client.get(f"/image/v2/images/{image_id}",
                            headers={"X-Auth-Token": plane.token("alice")})
    return resp.json() if resp.status_code == 200 else None


def driver(plane: Plane, host: str) -> FakeDriver:
    found = plane.agents[host].driver
    assert isinstance(found, FakeDriver)
    return found


def sysmeta(plane: Plane, sid: str) -> dict[str, Any]:
    with plane.service.db.reading() as tx:
        row = tx.get(models.Instance, sid)
        assert row is not None
        return dict(row.system_metadata or {})


def used(plane: Plane) -> dict[str, Any]:
    return dict(plane.ok("GET", "/limits")["limits"]["absolute"])


def test_shelve_offloads_and_unshelve_boots_from_the_image(served: Plane) -> None:
    plane = served
    sid = plane.create(name="keep")["id"]
    assert used(plane)["totalCoresUsed"] == 1
    assert act(plane, sid, {"shelve": None}).status_code == 202
    shown = plane.wait(sid, "SHELVED_OFFLOADED", "admin")
    assert shown["OS-EXT-SRV-ATTR:host"] is None and shown["OS-EXT-STS:power_state"] == 0
    assert shown["OS-EXT-STS:vm_state"] == "shelved_offloaded"
    assert all(sid not in {i.id for i in driver(plane, h).list_instances()}
               for h in plane.agents)
    with plane.service.db.reading() as tx:
        assert tx.get(models.Allocation, sid) is None
    image_id = sysmeta(plane, sid)["shelved_image_id"]
    saved = image(plane, image_id)
    assert saved is not None and saved["name"] == "keep-shelved"
    assert saved["status"] == "active" and saved["image_type"] == "snapshot"
    assert saved["instance_uuid"] == sid and saved["base_image_ref"] == plane.image_id
    # an offloaded server is still an instance, but holds no cores nor RAM
    limits = used(plane)
    assert limits["totalInstancesUsed"] == 1 and limits["totalCoresUsed"] == 0
    assert limits["totalRAMUsed"] == 0
    assert act(plane, sid, {"unshelve": None}).status_code == 202
    shown = plane.wait(sid, "ACTIVE", "admin")
    host = shown["OS-EXT-SRV-ATTR:host"]
    assert host in plane.agents and shown["image"]["id"] == plane.image_id
    assert driver(plane, host).events(sid) == ["boot"]
    assert driver(plane, host).record_path(sid).read_text().count(image_id) == 1
    assert image(plane, image_id) is None  # deleted once the server runs again
    assert "shelved_image_id" not in sysmeta(plane, sid)
    assert used(plane)["totalCoresUsed"] == 1
    actions = [a["action"] for a in plane.ok("GET", f"/servers/{sid}/os-instance-actions")[
        "instanceActions"]]
    assert actions == ["unshelve", "shelve", "create"]


def test_unshelve_to_a_zone_or_host_and_the_codes(served: Plane) -> None:
    plane = served
    sid = plane.create(name="codes")["id"]
    # (Nova reads no value of shelve or shelveOffload: {"shelve": {}} is a shelve)
    for who, body, code in (("alice", {"unshelve": None}, 409),
                            ("admin", {"shelveOffload": None}, 409),
                            ("ann", {"shelve": None}, 403),
                            ("bob", {"shelve": None}, 404),
                            ("alice", {"trigger_crash_dump": {}}, 400)):
        resp = act(plane, sid, body, who)
        assert resp.status_code == code, (who, body, resp.text)
    plane.ok("POST", f"/servers/{sid}/action", json={"lock": None})
    assert act(plane, sid, {"shelve": None}).status_code == 409
    plane.ok("POST", f"/servers/{sid}/action", json={"unlock": None})
    assert act(plane, sid, {"shelve": None}).status_code == 202
    plane.wait(sid, "SHELVED_OFFLOADED")
    assert act(plane, sid, {"shelve": None}).status_code == 409
    for who, body, version, code in (
            ("alice", {"unshelve": {"availability_zone": "nova"}}, "2.76", 400),
            ("alice", {"unshelve": {"availability_zone": None}}, "2.90", 400),
            ("alice", {"unshelve": {"host": "h2"}}, "2.90", 400),
            ("alice", {"unshelve": {"host": "h2"}}, "2.91", 403),
            ("admin", {"unshelve": {"host": "nowhere"}}, "2.91", 400),
            ("alice", {"unshelve": {"availability_zone": "mars"}}, "2.77", 400),
            ("alice", {"unshelve": {"zone": "nova"}}, "2.91", 400),
            ("ann", {"unshelve": None}, "2.91", 403),
            ("bob", {"unshelve": None}, "2.91", 404)):
        resp = act(plane, sid, body, who, version)
        assert resp.status_code == code, (body, version, resp.text)
        assert plane.show(sid)["OS-EXT-STS:task_state"] is None
    target = "h2"
    resp = act(plane, sid, {"unshelve": {"host": target, "availability_zone": None}}, "admin",
               "2.91")
    assert resp.status_code == 202, resp.text
    assert plane.wait(sid, "ACTIVE", "admin")["OS-EXT-SRV-ATTR:host"] == target
    # an offloaded server can be deleted, and its shelved image goes with it
    assert act(plane, sid, {"shelve": None}).status_code == 202
    plane.wait(sid, "SHELVED_OFFLOADED")
    image_id = sysmeta(plane, sid)["shelved_image_id"]
    assert plane.call("DELETE", f"/servers/{sid}").status_code == 204
    plane.wait_gone(sid)
    assert image(plane, image_id) is None


def test_unshelve_holds_the_quota_under_concurrency(served: Plane) -> None:
    plane = served
    project = plane.cloud.identity.resources.list_projects(ProjectFilter(name="a"))[0].id
    with plane.service.db.transaction() as tx:
        plane.service.quotas.update(tx, project, {"cores": 3})
    sids = [plane.create(name=f"q{i}")["id"] for i in range(3)]
    for sid in sids:
        assert act(plane, sid, {"shelve": None}).status_code == 202
    for sid in sids:
        plane.wait(sid, "SHELVED_OFFLOADED")
    plane.create(name="taker")  # takes one of the cores the offloaded servers freed
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        codes = list(pool.map(lambda s: act(plane, s, {"unshelve": None}), sids))
    assert sorted(r.status_code for r in codes) == [202, 202, 403], [r.text for r in codes]
    refused = next(r for r in codes if r.status_code == 403)
    assert refused.json()["forbidden"]["message"] == (
        "Quota exceeded for cores: Requested 1, but already used 3 of 3 cores")
    assert used(plane)["totalCoresUsed"] == 3


def test_shelve_without_offload_and_offload_later(cloud: Cloud, tmp_path: Path) -> None:
    options = ComputeOptions(heartbeat_seconds=1.0, service_down_seconds=30.0,
                             shelved_offload_time=-1)
    for plane in make_plane(cloud, tmp_path, hosts=("h1",), options=options):
        for _ in _serve(plane):
            sid = plane.create(name="stay")["id"]
            assert act(plane, sid, {"shelve": None}).status_code == 202
            shown = plane.wait(sid, "SHELVED", "admin")
            assert shown["OS-EXT-SRV-ATTR:host"] == "h1" and shown["OS-EXT-STS:power_state"] == 4
            assert driver(plane, "h1").power_state(sid) == 4
            assert act(plane, sid, {"unshelve": {"availability_zone": "nova"}},
                       version="2.77").status_code == 409  # only for offloaded ones
            image_id = sysmeta(plane, sid)["shelved_image_id"]
            assert act(plane, sid, {"unshelve": None}).status_code == 202
            plane.wait(sid, "ACTIVE")
            assert driver(plane, "h1").events(sid) == ["boot", "power_off", "power_on"]
            assert image(plane, image_id) is None
            assert act(plane, sid, {"shelve": None}).status_code == 202
            plane.wait(sid, "SHELVED")
            assert act(plane, sid, {"shelveOffload": None}).status_code == 403  # admins'
            assert act(plane, sid, {"shelveOffload": None}, "admin").status_code == 202
            plane.wait(sid, "SHELVED_OFFLOADED")
            assert sid not in {i.id for i in driver(plane, "h1").list_instances()}


def _backups(plane: Plane, sid: str) -> list[str]:
    listed = plane.client.get("/image/v2/images?sort_key=created_at&sort_dir=asc",
                              headers={"X-Auth-Token": plane.token("alice")}).json()
    return [i["name"] for i in listed["images"] if i.get("instance_uuid") == sid
            and i.get("image_type") == "backup"]


def test_backups_rotate(served: Plane) -> None:
    plane = served
    sid = plane.create(name="db")["id"]
    for name in ("b1", "b2", "b3"):
        resp = act(plane, sid, {"createBackup": {"name": name, "backup_type": "daily",
                                                 "rotation": 2}})
        assert resp.status_code == 202, resp.text
        backup = image(plane, resp.json()["image_id"])
        assert backup is not None and backup["backup_type"] == "daily"
        wait_task(plane, sid)
    assert _backups(plane, sid) == ["b2", "b3"]
    weekly = act(plane, sid, {"createBackup": {"name": "w1", "backup_type": "weekly",
                                               "rotation": "1"}}, version="2.44")
    assert weekly.status_code == 202 and weekly.headers["Location"].endswith(
        "/image/v2/images/" + weekly.headers["Location"].rsplit("/", 1)[-1])
    wait_task(plane, sid)
    assert _backups(plane, sid) == ["b2", "b3", "w1"]  # another type rotates apart
    assert act(plane, sid, {"createBackup": {"name": "b4", "backup_type": "daily",
                                             "rotation": 0}}).status_code == 202
    wait_task(plane, sid)
    assert _backups(plane, sid) == ["w1"]  # rotation 0: none of the type stays
    for who, body, code in (
            ("alice", {"createBackup": {"name": "x", "backup_type": "daily",
                                        "rotation": -1}}, 400),
            ("alice", {"createBackup": {"backup_type": "daily", "rotation": 1}}, 400),
            ("alice", {"createBackup": {"name": "x", "rotation": 1}}, 400),
            ("alice", {"createBackup": {"name": "x", "backup_type": "daily",
                                        "rotation": "two"}}, 400),
            ("alice", {"createBackup": {"name": "x", "backup_type": "daily", "rotation": 1,
                                        "metadata": {"visibility": "public"}}}, 400),
            ("ann", {"createBackup": {"name": "x", "backup_type": "daily", "rotation": 1}},
             403),
            ("bob", {"createBackup": {"name": "x", "backup_type": "daily", "rotation": 1}},
             404)):
        resp = act(plane, sid, body, who)
        assert resp.status_code == code, (who, body, resp.text)
    assert _backups(plane, sid) == ["w1"] and plane.show(sid)["OS-EXT-STS:task_state"] is None
    plane.ok("POST", f"/servers/{sid}/action", json={"os-stop": None})
    plane.wait(sid, "SHUTOFF")
    assert act(plane, sid, {"createBackup": {"name": "off", "backup_type": "daily",
                                             "rotation": 1}}).status_code == 202


def test_trigger_crash_dump(served: Plane) -> None:
    plane = served
    sid = plane.create(name="dump")["id"]
    host = plane.show(sid, "admin")["OS-EXT-SRV-ATTR:host"]
    assert act(plane, sid, {"trigger_crash_dump": None}, version="2.16").status_code == 400
    assert act(plane, sid, {"trigger_crash_dump": None}, "ann").status_code == 403
    assert act(plane, sid, {"trigger_crash_dump": None}, "bob").status_code == 404
    assert act(plane, sid, {"trigger_crash_dump": None}, version="2.17").status_code == 202
    deadline = time.monotonic() + 10
    while "nmi" not in driver(plane, host).events(sid):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    output = plane.ok("POST", f"/servers/{sid}/action", json={"os-getConsoleOutput": {}})
    assert "NMI received" in output["output"]
    actions = plane.ok("GET", f"/servers/{sid}/os-instance-actions")["instanceActions"]
    assert actions[0]["action"] == "trigger_crash_dump"
    plane.ok("POST", f"/servers/{sid}/action", json={"os-stop": None})
    plane.wait(sid, "SHUTOFF")
    resp = act(plane, sid, {"trigger_crash_dump": None})
    assert resp.status_code == 409 and "conflictingRequest" in resp.json()
    with plane.service.db.reading() as tx:
        assert tx.scalar(sa.select(sa.func.count()).select_from(models.InstanceAction)
                         .where(models.InstanceAction.action == "trigger_crash_dump")) == 1
