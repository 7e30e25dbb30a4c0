"""Interoperable import (stage, import, tasks), discovery (/v2/info/*), list filters and
Glance's first JSON-patch form, over the API as each caller sees it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from labs.common.context import RequestContext
from labs.image.uploads import transition
from tests.image.conftest import OCTETS, QUOTA, Images, error_message

RAW = bytes(range(256)) * 16
V20 = {"content-type": "application/openstack-images-v2.0-json-patch"}


def stage(images: Images, image_id: str, data: bytes = RAW, who: str = "alice") -> Any:
    return images.call("PUT", f"/images/{image_id}/stage", who, content=data, headers=OCTETS)


def start_import(images: Images, image_id: str, who: str = "alice", **body: Any) -> Any:
    body.setdefault("method", {"name": "glance-direct"})
    return images.call("POST", f"/images/{image_id}/import", who, json=body)


def settled(images: Images, image_id: str, who: str = "alice") -> dict[str, Any]:
    """The image once its import task has ended."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        image = images.show(image_id, who)
        if image["status"] != "importing":
            return image
        time.sleep(0.05)
    raise AssertionError(f"image {image_id} still importing")


def queued(images: Images, who: str = "alice", **fields: Any) -> dict[str, Any]:
    fields.setdefault("disk_format", "raw")
    fields.setdefault("container_format", "bare")
    return images.create(who, **fields)


def test_stage_then_import_makes_the_image_active(images: Images) -> None:
    image = queued(images, name="imported")
    assert stage(images, image["id"]).status_code == 204
    staged = images.show(image["id"], "alice")
    assert staged["status"] == "uploading" and staged["size"] is None
    resp = start_import(images, image["id"])
    assert resp.status_code == 202, resp.text
    done = settled(images, image["id"])
    assert done["status"] == "active"
    assert done["size"] == len(RAW) and done["virtual_size"] == len(RAW)
    assert done["stores"] == "local" and "stores" not in staged
    assert images.ok("GET", f"/images/{image['id']}/file", "alice") == RAW
    assert not list((images.store_dir.parent / "image-staging").iterdir())
    tasks = images.ok("GET", f"/images/{image['id']}/tasks", "alice")["tasks"]
    assert [t["status"] for t in tasks] == ["success"]
    task = tasks[0]
    assert task["type"] == "api_image_import" and task["image_id"] == image["id"]
    assert task["input"]["import_req"] == {"method": {"name": "glance-direct"}}
    assert task["result"] == {"image_id": image["id"]} and task["expires_at"]
    # the task API is for admins (Glance's tasks_api_access), who see every project's
    error_message(images.call("GET", "/tasks", "alice"), 403)
    error_message(images.call("GET", f"/tasks/{task['id']}", "alice"), 403)
    listed = images.ok("GET", "/tasks")
    assert [t["id"] for t in listed["tasks"]] == [task["id"]]
    assert "input" not in listed["tasks"][0] and listed["schema"] == "/v2/schemas/tasks"
    assert images.ok("GET", f"/tasks/{task['id']}") == task
    assert images.ok("GET", "/tasks", params={"status": "failure"})["tasks"] == []
    assert images.ok("GET", "/tasks", params={"type": "import"})["tasks"] == []


def test_task_list_paging_and_bad_queries(images: Images) -> None:
    made = []
    for n in range(3):
        image = queued(images, name=f"t{n}")
        stage(images, image["id"])
        assert start_import(images, image["id"]).status_code == 202
        settled(images, image["id"])
        made.append(image["id"])
    page = images.ok("GET", "/tasks", params={"limit": 2, "sort_dir": "asc"})
    assert [t["image_id"] for t in (images.ok("GET", f"/tasks/{t['id']}")
                                    for t in page["tasks"])] == made[:2]
    rest = images.ok("GET", "/image/v2" + page["next"].removeprefix("/v2"))
    assert len(rest["tasks"]) == 1
    for params in ({"status": "done"}, {"type": "api_image_import"}, {"sort_dir": "up"},
                   {"sort_key": "owner"}, {"limit": "x"}, {"limit": "-1"},
                   {"marker": "nope"}):
        error_message(images.call("GET", "/tasks", params=params), 400)
    error_message(images.call("GET", "/tasks/nope"), 404)


def test_who_may_stage_and_import(images: Images) -> None:
    image = queued(images, visibility="shared")
    images.ok("POST", f"/images/{image['id']}/members", "alice",
              json={"member": images.projects["b"]})
    # another project's member (even one it is shared with), a reader: no
    error_message(stage(images, image["id"], who="carol"), 404)
    error_message(stage(images, image["id"], who="bob"), 403)
    error_message(stage(images, image["id"], who="reader"), 403)
    assert images.show(image["id"])["status"] == "queued"
    assert stage(images, image["id"], who="admin").status_code == 204
    error_message(start_import(images, image["id"], "carol"), 404)
    error_message(start_import(images, image["id"], "bob"), 403)
    error_message(start_import(images, image["id"], "reader"), 403)
    error_message(images.call("GET", f"/images/{image['id']}/tasks", "carol"), 404)
    assert images.show(image["id"])["status"] == "uploading"
    assert start_import(images, image["id"], "admin").status_code == 202
    assert settled(images, image["id"], "admin")["status"] == "active"
    # the task is the importing project's
    task = images.ok("GET", f"/images/{image['id']}/tasks", "alice")["tasks"][0]
    assert task["owner"] == images.projects["admin"]


def test_bad_stage_and_import_requests(images: Images, qcow2: bytes) -> None:
    image = queued(images)
    error_message(start_import(images, image["id"]), 409)  # nothing staged
    for body in ({}, {"method": {}}, {"method": "glance-direct"},
                 {"method": {"name": "glance-direct"}, "all_stores": "yes"},
                 {"method": {"name": "glance-direct"}, "stores": "local"}):
        error_message(images.call("POST", f"/images/{image['id']}/import", "alice",
                                  json=body), 400)
    # methods this cloud does not offer: copy-image needs more than one store
    for method in ("copy-image", "web-download", "glance-download", "nope"):
        error_message(start_import(images, image["id"], method={"name": method}), 400)
    error_message(images.call("PUT", f"/images/{image['id']}/stage", "alice", content=RAW,
                              headers={"content-type": "text/plain"}), 415)
    # data that is not what the image says it is: refused, the image still queued
    disk = queued(images, disk_format="qcow2")
    error_message(stage(images, disk["id"], RAW), 400)
    assert images.show(disk["id"], "alice")["status"] == "queued"
    error_message(stage(images, disk["id"], b"x" * (QUOTA + 1)), 413)
    assert images.show(disk["id"], "alice")["status"] == "queued"
    assert stage(images, disk["id"], qcow2).status_code == 204
    error_message(stage(images, disk["id"], qcow2), 409)  # staged already
    error_message(start_import(images, disk["id"], stores=["elsewhere"]), 409)
    assert start_import(images, disk["id"], stores=["local"]).status_code == 202
    assert settled(images, disk["id"])["status"] == "active"
    error_message(start_import(images, disk["id"]), 409)  # active
    error_message(stage(images, disk["id"]), 409)
    error_message(start_import(images, "6bbe8a4d-2d7c-4b8a-9d0e-d47c6f1c2a13"), 404)
    assert not list((images.store_dir.parent / "image-staging").iterdir())


def test_a_failed_import_leaves_the_image_queued(images: Images) -> None:
    image = queued(images)
    assert stage(images, image["id"]).status_code == 204
    (images.store_dir.parent / "image-staging" / image["id"]).unlink()  # data lost
    assert start_import(images, image["id"]).status_code == 202
    done = settled(images, image["id"])
    assert done["status"] == "queued" and done["size"] is None
    task = images.ok("GET", f"/images/{image['id']}/tasks", "alice")["tasks"][0]
    assert task["status"] == "failure" and "Image import failed" in task["message"]
    # and the image takes data again
    assert stage(images, image["id"]).status_code == 204


def test_staged_data_counts_against_the_quota_and_goes_with_the_image(
        images: Images) -> None:
    big = queued(images)
    assert stage(images, big["id"], b"\0" * (QUOTA - 1000)).status_code == 204
    other = queued(images)
    error_message(images.upload(other["id"], b"\0" * 2000, "alice"), 413)
    usage = images.ok("GET", "/info/usage", "alice")["usage"]
    assert usage == {"image_size_total": {"usage": 1, "limit": QUOTA >> 20}}
    images.ok("DELETE", f"/images/{big['id']}", "alice")
    assert not list((images.store_dir.parent / "image-staging").iterdir())
    assert images.upload(other["id"], b"\0" * 2000, "alice").status_code == 204


def test_discovery(images: Images) -> None:
    for who in ("alice", "reader", "carol", "admin"):
        assert images.ok("GET", "/info/import", who) == {"import-methods": {
            "description": "Import methods available.", "type": "array",
            "value": ["glance-direct"]}}
        stores = images.ok("GET", "/info/stores", who)["stores"]
        assert [(s["id"], s["default"]) for s in stores] == [("local", "true")]
    error_message(images.call("GET", "/info/stores/detail", "alice"), 403)
    detail = images.ok("GET", "/info/stores/detail")["stores"][0]
    assert detail["type"] == "file" and detail["properties"]["chunk_size"] > 0
    error_message(images.call("GET", "/info/import", None), 401)
    error_message(images.call("POST", "/images", "alice", json={"stores": "local"}), 403)
    created = images.call("POST", "/images", "alice", json={"name": "x"})
    assert created.headers["OpenStack-image-import-methods"] == "glance-direct"
    assert created.headers["OpenStack-image-store-ids"] == "local"
    schema = images.ok("GET", "/schemas/task", None)
    assert {"id", "status", "input", "result"} <= set(schema["properties"])


def test_list_filters_on_formats_sizes_and_properties(images: Images) -> None:
    raw = queued(images, name="raw", os_distro="debian")
    images.upload(raw["id"], RAW, "alice")
    qcow = queued(images, name="qcow", disk_format="qcow2", container_format="ovf")
    iso = queued(images, name="iso", disk_format="iso", os_distro="other")
    images.patch(iso["id"], [{"op": "replace", "path": "/protected", "value": True}], "alice")
    assert images.ids("alice", disk_format="qcow2") == [qcow["id"]]
    assert images.ids("alice", disk_format="raw") == [raw["id"]]
    assert images.ids("alice", container_format="ovf") == [qcow["id"]]
    assert set(images.ids("alice", container_format="bare")) == {raw["id"], iso["id"]}
    assert images.ids("alice", os_distro="debian") == [raw["id"]]
    assert images.ids("alice", protected="true") == [iso["id"]]
    assert set(images.ids("alice", protected="false")) == {raw["id"], qcow["id"]}
    assert images.ids("alice", size_min=str(len(RAW))) == [raw["id"]]
    assert images.ids("alice", size_max="10") == []
    checksum = images.show(raw["id"], "alice")["checksum"]
    assert images.ids("alice", checksum=checksum) == [raw["id"]]
    assert images.ids("alice", disk_format="vhd") == []
    assert images.ids("alice", virtual_size=str(len(RAW))) == [raw["id"]]
    images.patch(qcow["id"], [{"op": "replace", "path": "/min_ram", "value": 512}], "alice")
    assert images.ids("alice", min_ram="512") == [qcow["id"]]
    created = images.show(iso["id"], "alice")["created_at"]
    assert iso["id"] in images.ids("alice", created_at=f"gte:{created}")
    assert images.ids("alice", created_at="lt:2000-01-01T00:00:00Z") == []
    assert len(images.ids("alice", updated_at="gt:2000-01-01T00:00:00Z")) == 3
    for params in ({"protected": "maybe"}, {"size_min": "x"}, {"size_max": "-1"},
                   {"changes-since": "2020-01-01"}, {"a/b": "c"}, {"min_ram": "x"},
                   {"created_at": "after:2020"}, {"updated_at": "gt:yesterday"},
                   # a zone that moves the moment past year 1 or 9999
                   {"created_at": "gt:0001-01-01T00:00:00+01:00"},
                   {"updated_at": "9999-12-31T23:59:59-01:00"},
                   {"sort": "name:asc", "sort_key": "name"}):
        error_message(images.call("GET", "/images", "alice", params=params), 400)


@pytest.mark.parametrize("form", ["v2.0", "v2.1"])
def test_both_json_patch_forms(images: Images, form: str) -> None:
    image = queued(images, name="before", extra="x")
    if form == "v2.0":
        ops: list[dict[str, Any]] = [{"replace": "/name", "value": "after"},
                                     {"add": "/colour", "value": "blue"},
                                     {"remove": "/extra"}]
        headers = V20
    else:
        ops = [{"op": "replace", "path": "/name", "value": "after"},
               {"op": "add", "path": "/colour", "value": "blue"},
               {"op": "remove", "path": "/extra"}]
        headers = {"content-type": "application/openstack-images-v2.1-json-patch"}
    resp = images.call("PATCH", f"/images/{image['id']}", "alice", json=ops, headers=headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["name"] == "after" and body["colour"] == "blue" and "extra" not in body


def test_json_patch_forms_follow_the_media_type(images: Images) -> None:
    image = queued(images)
    path = f"/images/{image['id']}"
    v21 = {"content-type": "application/openstack-images-v2.1-json-patch"}
    for ops, headers in (([{"replace": "/name", "value": "x"}], v21),
                         ([{"op": "replace", "path": "/name", "value": "x"}], V20),
                         ([{"replace": "/name", "add": "/name", "value": "x"}], V20),
                         ([{"replace": "name", "value": "x"}], V20),
                         ([{"replace": "/name"}], V20),
                         ([{"op": "replace", "value": "x"}], v21)):
        error_message(images.call("PATCH", path, "alice", json=ops, headers=headers), 400)
    for ctype in ("application/json", "application/json-patch+json", "text/plain"):
        error_message(images.call("PATCH", path, "alice", headers={"content-type": ctype},
                                  json=[{"op": "replace", "path": "/name", "value": "x"}]),
                      415)
    # the v2.0 form keeps the v2.1 form's protections
    error_message(images.call("PATCH", path, "bob", headers=V20,
                              json=[{"replace": "/name", "value": "x"}]), 404)
    error_message(images.call("PATCH", path, "reader", headers=V20,
                              json=[{"replace": "/name", "value": "x"}]), 403)
    error_message(images.call("PATCH", path, "alice", headers=V20,
                              json=[{"replace": "/status", "value": "active"}]), 403)
    assert images.show(image["id"])["name"] is None


def test_the_cache_api_says_there_is_no_cache(images: Images) -> None:
    """As Glance without an image cache: admins only (403), then 404 with its message."""
    image = queued(images)
    for method, path in (("GET", "/cache"), ("DELETE", "/cache"),
                         ("PUT", f"/cache/{image['id']}"), ("DELETE", f"/cache/{image['id']}")):
        for who in ("alice", "reader", "bob"):
            error_message(images.call(method, path, who), 403)
        assert "not supported" in error_message(images.call(method, path), 404)


def test_a_stage_a_crash_cut_short_is_swept_and_a_complete_one_kept(images: Images) -> None:
    cut, whole, importing = queued(images), queued(images), queued(images)
    assert stage(images, whole["id"]).status_code == 204
    assert stage(images, importing["id"]).status_code == 204
    task = images.service.tasks.create(_member(images),
                                       importing["id"], {}, None)
    with images.service.db.transaction() as tx:  # as a crash mid-stage leaves them
        transition(tx, cut["id"], "queued", status="uploading", reserved=100)
        transition(tx, importing["id"], "uploading", status="importing")
    assert images.service.sweep_uploads() == 2
    assert images.show(cut["id"])["status"] == "queued"
    assert images.show(whole["id"])["status"] == "uploading"
    assert images.show(importing["id"])["status"] == "uploading"  # staged again
    assert images.ok("GET", f"/tasks/{task.id}")["status"] == "failure"
    assert start_import(images, whole["id"]).status_code == 202
    assert settled(images, whole["id"])["status"] == "active"


def _member(images: Images) -> RequestContext:
    return RequestContext(user_id="u", project_id=images.projects["a"],
                          roles=frozenset({"member"}))
