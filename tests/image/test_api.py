"""The image API (Glance v2) in-process next to identity, on SQLite and MariaDB.

Callers (see conftest): ``admin`` (cloud admin, project admin), in project a
``alice`` (member), ``amy`` (projectadmin) and ``reader``; ``bob`` (member of b)
and ``carol`` (member of c).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
import sqlalchemy as sa

from labs.common.config import ConfigError
from labs.common.http import DEFAULT_MAX_BODY
from labs.image import models, schemas
from labs.image.api import build_api
from labs.image.config import ImageOptions
from labs.wiring.image import new_images
from tests.conftest import Cloud
from tests.image.conftest import (
    CHUNK,
    OCTETS,
    PATCH,
    QUOTA,
    V2,
    Images,
    error_message,
    make_images,
)

#: Crosses the store's chunk size a few times, with every byte value.
DATA = bytes(range(256)) * 40 + b"tail"


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def test_the_hashing_algorithm_is_configurable(cloud: Cloud, tmp_path: Path) -> None:
    for images in make_images(cloud, tmp_path, hashing_algorithm="sha512"):
        image = images.create("alice", name="raw", disk_format="raw", container_format="bare")
        assert images.upload(image["id"], DATA, "alice").status_code == 204
        done = images.show(image["id"], "alice")
        assert (done["os_hash_algo"], done["os_hash_value"]) == ("sha512", sha512(DATA))
        assert done["checksum"] == md5(DATA)
    with pytest.raises(ConfigError, match="hashing_algorithm: 'sha4'"):
        new_images(cloud.identity.store.db, ImageOptions(hashing_algorithm="sha4"), tmp_path)


def active(images: Images, who: str = "admin", data: bytes = DATA, **fields: Any
           ) -> dict[str, Any]:
    """A new image with data, as ``who``."""
    fields.setdefault("disk_format", "raw")
    fields.setdefault("container_format", "bare")
    image = images.create(who, **fields)
    resp = images.upload(image["id"], data, who)
    assert resp.status_code == 204, resp.text
    return images.show(image["id"], who)


def status_in_db(images: Images, image_id: str) -> str:
    with images.service.db.transaction() as tx:
        return str(tx.scalar(sa.select(models.Image.status).where(
            models.Image.id == image_id)))


# -- discovery and schemas ---------------------------------------------------------------

def test_version_discovery_needs_no_token(images: Images) -> None:
    resp = images.client.get("/image/")
    assert resp.status_code == 300
    versions = resp.json()["versions"]
    assert versions[0]["status"] == "CURRENT"
    assert {v["id"] for v in versions} >= {"v2.0", "v2.1"}
    assert all(v["status"] in ("CURRENT", "SUPPORTED") for v in versions)
    assert versions[0]["links"][0]["href"] == "http://testserver/image/v2/"
    assert images.client.get("/image/versions").status_code == 200
    assert resp.headers["x-openstack-request-id"].startswith("req-")
    doc = images.client.get("/image/v2/openapi.json").json()  # the same for every caller
    assert doc["openapi"] == "3.1.0"
    for who in ("admin", "amy", "alice", "reader", "bob"):
        assert images.ok("GET", "/openapi.json", who) == doc


def test_schema_documents_and_images_that_match_them(images: Images) -> None:
    docs = {name: images.ok("GET", f"/schemas/{name}", None)
            for name in ("image", "images", "member", "members")}
    assert {name: d["name"] for name, d in docs.items()} == {
        "image": "image", "images": "images", "member": "member", "members": "members"}
    image_props = docs["image"]["properties"]
    assert {"id", "name", "status", "visibility", "checksum", "os_hash_algo",
            "os_hash_value", "size", "virtual_size", "tags", "disk_format"} <= set(image_props)
    assert "qcow2" in image_props["disk_format"]["enum"]
    assert docs["member"]["properties"]["status"]["enum"] == ["pending", "accepted", "rejected"]
    # clients (glanceclient, openstacksdk) check what they get against these documents
    queued = images.create(name="s", os_distro="debian", tags=["t"])
    jsonschema.validate(queued, docs["image"])
    done = active(images)
    jsonschema.validate(done, docs["image"])
    jsonschema.validate(images.ok("GET", "/images"), docs["images"])
    shared = images.create(visibility="shared")
    member = images.ok("POST", f"/images/{shared['id']}/members",
                       json={"member": images.projects["b"]})
    jsonschema.validate(member, docs["member"])
    jsonschema.validate(images.ok("GET", f"/images/{shared['id']}/members"), docs["members"])


def test_every_other_route_needs_a_token(images: Images) -> None:
    image = images.create()
    for method, path in (("GET", "/images"), ("POST", "/images"),
                         ("GET", f"/images/{image['id']}"),
                         ("PUT", f"/images/{image['id']}/file"),
                         ("GET", f"/images/{image['id']}/file"),
                         ("GET", f"/images/{image['id']}/members")):
        error_message(images.call(method, path, None), 401)
    error_message(images.call("GET", "/images", None, headers={"X-Auth-Token": "bogus"}), 401)


# -- records -----------------------------------------------------------------------------

def test_create_show_list_update_delete(images: Images) -> None:
    resp = images.call("POST", "/images", "alice", json={
        "name": "debian-12", "disk_format": "qcow2", "container_format": "bare",
        "min_disk": 2, "min_ram": 512, "tags": ["os", "debian", "os"], "os_distro": "debian"})
    assert resp.status_code == 201, resp.text
    image = resp.json()
    assert resp.headers["location"] == f"http://testserver{V2}/images/{image['id']}"
    assert image["status"] == "queued"
    assert image["visibility"] == "shared"  # Glance's default
    assert image["owner"] == images.projects["a"]
    assert (image["size"], image["virtual_size"], image["checksum"]) == (None, None, None)
    assert (image["min_disk"], image["min_ram"], image["protected"]) == (2, 512, False)
    assert sorted(image["tags"]) == ["debian", "os"]
    assert image["os_distro"] == "debian"
    assert image["self"] == f"/v2/images/{image['id']}"
    assert image["file"] == f"/v2/images/{image['id']}/file"
    assert image["schema"] == "/v2/schemas/image"
    assert image["created_at"].endswith("Z")
    assert images.show(image["id"], "alice") == image
    assert images.show(image["id"], "amy") == image  # the same project
    assert image["id"] in images.ids("alice")

    resp = images.patch(image["id"], [
        {"op": "replace", "path": "/name", "value": "debian-12-new"},
        {"op": "add", "path": "/os_version", "value": "12"},
        {"op": "remove", "path": "/os_distro"},
        {"op": "replace", "path": "/min_ram", "value": 1024},
        {"op": "replace", "path": "/protected", "value": True},
        {"op": "replace", "path": "/tags", "value": ["x"]},
    ], "alice")
    assert resp.status_code == 200, resp.text
    changed = resp.json()
    assert (changed["name"], changed["os_version"], changed["min_ram"]) == (
        "debian-12-new", "12", 1024)
    assert "os_distro" not in changed
    assert changed["protected"] is True and changed["tags"] == ["x"]
    assert images.show(image["id"]) == changed

    # protected: no delete until unprotected
    error_message(images.call("DELETE", f"/images/{image['id']}", "alice"), 403)
    assert images.patch(image["id"], [{"op": "replace", "path": "/protected",
                                       "value": False}], "alice").status_code == 200
    assert images.call("DELETE", f"/images/{image['id']}", "alice").status_code == 204
    error_message(images.call("GET", f"/images/{image['id']}", "alice"), 404)
    error_message(images.call("DELETE", f"/images/{image['id']}", "alice"), 404)
    assert image["id"] not in images.ids("alice")
    assert image["id"] not in images.ids("admin", visibility="all")


def test_create_with_an_id_then_the_id_is_taken(images: Images) -> None:
    wanted = "6bbe8a4d-2d7c-4b8a-9d0e-d47c6f1c2a11"
    assert images.create(id=wanted)["id"] == wanted
    error_message(images.call("POST", "/images", json={"id": wanted}), 409)
    assert images.call("DELETE", f"/images/{wanted}").status_code == 204
    error_message(images.call("POST", "/images", json={"id": wanted}), 409)  # never reused


def test_json_patch_semantics(images: Images) -> None:
    image = images.create("alice", name="p", k1="v1")
    iid = image["id"]
    # add on an existing property replaces it (v2.1 patch)
    assert images.patch(iid, [{"op": "add", "path": "/k1", "value": "v2"}],
                        "alice").json()["k1"] == "v2"
    # removing what is not there, replacing what is not there: 409 as Glance
    error_message(images.patch(iid, [{"op": "remove", "path": "/nope"}], "alice"), 409)
    error_message(images.patch(iid, [{"op": "replace", "path": "/nope", "value": "x"}],
                               "alice"), 409)
    # a base attribute cannot be removed
    error_message(images.patch(iid, [{"op": "remove", "path": "/name"}], "alice"), 403)
    # one change: a bad operation anywhere leaves everything as it was
    before = images.show(iid)
    error_message(images.patch(iid, [{"op": "replace", "path": "/name", "value": "q"},
                                     {"op": "replace", "path": "/status", "value": "active"}],
                               "alice"), 403)
    assert images.show(iid) == before
    # a patch needs the patch content type
    resp = images.call("PATCH", f"/images/{iid}", "alice",
                       json=[{"op": "replace", "path": "/name", "value": "q"}],
                       headers={"content-type": "application/json"})
    error_message(resp, 415)
    # formats change only while queued
    assert images.patch(iid, [{"op": "replace", "path": "/disk_format", "value": "qcow2"}],
                        "alice").status_code == 200
    done = active(images, "alice")
    error_message(images.patch(done["id"], [{"op": "replace", "path": "/disk_format",
                                             "value": "qcow2"}], "alice"), 403)


# -- data --------------------------------------------------------------------------------

def test_upload_and_download_raw(images: Images) -> None:
    image = images.create("alice", name="raw", disk_format="raw", container_format="bare")
    assert images.upload(image["id"], DATA, "alice").status_code == 204
    done = images.show(image["id"], "alice")
    assert done["status"] == "active"
    assert done["size"] == done["virtual_size"] == len(DATA)
    assert done["checksum"] == md5(DATA)
    assert done["os_hash_algo"] == "sha256"
    assert done["os_hash_value"] == hashlib.sha256(DATA).hexdigest()
    resp = images.call("GET", f"/images/{image['id']}/file", "alice")
    assert resp.status_code == 200
    assert resp.content == DATA
    assert resp.headers["content-md5"] == md5(DATA)
    assert resp.headers["content-type"] == "application/octet-stream"
    assert resp.headers["content-length"] == str(len(DATA))
    assert images.stored_files() == [image["id"]]


def test_qcow2_virtual_size_comes_from_its_header(images: Images, qcow2: bytes) -> None:
    done = active(images, "alice", qcow2, disk_format="qcow2")
    assert done["virtual_size"] == 64 * 2**20
    assert done["size"] == len(qcow2) < done["virtual_size"]
    assert done["checksum"] == md5(qcow2)
    assert images.ok("GET", f"/images/{done['id']}/file", "alice") == qcow2


def test_empty_image(images: Images) -> None:
    done = active(images, "alice", b"")
    assert (done["status"], done["size"], done["checksum"]) == ("active", 0, md5(b""))
    resp = images.call("GET", f"/images/{done['id']}/file", "alice")
    assert resp.status_code == 200 and resp.content == b""
    error_message(images.call("GET", f"/images/{done['id']}/file", "alice",
                              headers={"Range": "bytes=0-0"}), 416)


def test_download_of_an_image_without_data_is_204(images: Images) -> None:
    image = images.create("alice")
    resp = images.call("GET", f"/images/{image['id']}/file", "alice")
    assert resp.status_code == 204 and resp.content == b""


def test_range_requests(images: Images) -> None:
    done = active(images, "alice")
    path, size = f"/images/{done['id']}/file", len(DATA)

    def ranged(spec: str) -> tuple[bytes, str]:
        resp = images.call("GET", path, "alice", headers={"Range": spec})
        assert resp.status_code == 206, f"{spec}: {resp.status_code} {resp.text[:200]}"
        assert resp.headers["content-length"] == str(len(resp.content))
        return resp.content, resp.headers["content-range"]

    assert ranged("bytes=0-9") == (DATA[:10], f"bytes 0-9/{size}")
    # across the store's chunk boundary
    assert ranged(f"bytes={CHUNK - 3}-{CHUNK + 3}") == (
        DATA[CHUNK - 3:CHUNK + 4], f"bytes {CHUNK - 3}-{CHUNK + 3}/{size}")
    assert ranged("bytes=10000-") == (DATA[10000:], f"bytes 10000-{size - 1}/{size}")
    # suffix ranges: the last N bytes, all of it when N is larger than the image
    assert ranged("bytes=-100") == (DATA[-100:], f"bytes {size - 100}-{size - 1}/{size}")
    assert ranged(f"bytes=-{size * 2}") == (DATA, f"bytes 0-{size - 1}/{size}")
    # an end past the last byte is cut to it
    assert ranged(f"bytes={size - 2}-{size + 100}") == (
        DATA[-2:], f"bytes {size - 2}-{size - 1}/{size}")
    assert ranged(f"bytes={size - 1}-{size - 1}") == (DATA[-1:],
                                                      f"bytes {size - 1}-{size - 1}/{size}")
    for spec in (f"bytes={size}-", f"bytes={size + 5}-{size + 10}", "bytes=-0"):
        resp = images.call("GET", path, "alice", headers={"Range": spec})
        error_message(resp, 416)
        assert resp.headers["content-range"] == f"bytes */{size}", spec
    for spec in ("bytes=abc", "bytes=", "bytes=-", "items=0-1", "bytes=0-1,3-4", "bytes=5-2",
                 "bytes=1-2-3", "0-10", "bytes=+1-2", "bytes=\u0661-\u0662", "bytes=" + "9" * 5000):
        # sent as UTF-8 bytes: httpx refuses non-ASCII header text
        resp = images.call("GET", path, "alice", headers={"Range": spec.encode()})  # type: ignore[dict-item]
        assert "Range" in error_message(resp, 400), spec


def test_status_machine_queued_saving_active(images: Images) -> None:
    image = images.create("alice")
    assert image["status"] == "queued"
    seen: list[str] = []

    def between_parts() -> None:
        seen.append(status_in_db(images, image["id"]))

    status = send_upload(images, image["id"], "alice", [b"x" * 1000, b"y" * 1000],
                         between=between_parts)
    assert status == 204
    assert seen == ["saving"]
    done = images.show(image["id"], "alice")
    assert (done["status"], done["size"]) == ("active", 2000)
    # active images take no more data; neither does an upload that is still running
    error_message(images.upload(image["id"], b"again", "alice"), 409)


def test_a_client_that_stops_mid_upload_leaves_no_image_and_no_file(images: Images) -> None:
    image = images.create("alice")
    status = send_upload(images, image["id"], "alice", [b"x" * 5000], length=50_000,
                         disconnect=True)
    assert status == 400
    shown = images.show(image["id"], "alice")
    assert shown["status"] == "killed"
    assert (shown["size"], shown["checksum"]) == (None, None)
    assert images.stored_files() == []
    error_message(images.upload(image["id"], DATA, "alice"), 409)  # killed takes no data
    assert images.call("GET", f"/images/{image['id']}/file", "alice").status_code == 204
    # and the reservation it held is given back
    assert active(images, "alice", b"z" * (QUOTA - 10))["status"] == "active"


def race(images: Images, uploads: list[tuple[str, str, bytes]]) -> list[int]:
    """Start every (image id, who, data) upload at once; their statuses, in order."""
    barrier = threading.Barrier(len(uploads))
    statuses: list[int] = [0] * len(uploads)

    def upload(i: int) -> None:
        image_id, who, data = uploads[i]
        barrier.wait(timeout=30)
        statuses[i] = images.upload(image_id, data, who).status_code

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(uploads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return statuses


def test_racing_uploads_to_one_image_one_wins(images: Images) -> None:
    for _ in range(3):
        image = images.create("alice")
        datas = [bytes([i]) * (3000 + i) for i in range(4)]
        statuses = race(images, [(image["id"], "alice", d) for d in datas])
        assert sorted(statuses) == [204, 409, 409, 409], statuses
        won = datas[statuses.index(204)]
        done = images.show(image["id"], "alice")
        assert (done["status"], done["size"], done["checksum"]) == ("active", len(won),
                                                                    md5(won))
        assert images.ok("GET", f"/images/{image['id']}/file", "alice") == won
    assert len(images.stored_files()) == 3


def test_racing_uploads_keep_to_the_quota(images: Images) -> None:
    data = b"r" * (QUOTA * 4 // 10)  # two fit, the third does not
    made = [images.create("alice" if i % 2 else "amy") for i in range(4)]
    statuses = race(images, [(m["id"], "alice", data) for m in made])
    assert sorted(statuses) == [204, 204, 413, 413], statuses
    assert len(images.stored_files()) == 2
    assert sorted(images.show(m["id"])["status"] for m in made) == [
        "active", "active", "queued", "queued"]


def test_an_image_deleted_mid_upload_stays_deleted(images: Images) -> None:
    image = images.create("alice")
    ctx = images.cloud.identity.tokens.authenticate(images.token("alice"))

    def delete() -> None:
        images.service.records.delete(ctx, image["id"])

    assert send_upload(images, image["id"], "alice", [b"x" * 100, b"y" * 100],
                       between=delete) == 409
    assert images.stored_files() == []
    error_message(images.call("GET", f"/images/{image['id']}", "alice"), 404)
    with images.service.db.transaction() as tx:
        row = tx.get(models.Image, image["id"])
        assert row is not None
        assert (row.status, row.location, row.reserved) == ("deleted", None, 0)


def test_project_quota(images: Images) -> None:
    big = b"q" * (QUOTA * 6 // 10)
    first = active(images, "alice", big)
    second = images.create("amy")  # the same project
    # with a Content-Length the service refuses before reading
    error_message(images.upload(second["id"], big, "amy"), 413)
    # streamed without one, it stops reading at the quota
    resp = images.call("PUT", f"/images/{second['id']}/file", "amy",
                       content=iter([big[:1000], big[1000:]]), headers=OCTETS)
    assert "content-length" not in resp.request.headers
    error_message(resp, 413)
    assert images.stored_files() == [first["id"]]
    assert images.show(second["id"], "amy")["status"] == "queued"
    # another project has its own quota
    assert active(images, "bob", big)["status"] == "active"
    # deleting frees the room
    assert images.call("DELETE", f"/images/{first['id']}", "alice").status_code == 204
    assert images.upload(second["id"], big, "amy").status_code == 204
    assert sorted(images.stored_files()) == sorted([second["id"], *images.ids("bob")])


@pytest.fixture
def small_images(cloud: Cloud, tmp_path: Path) -> Iterator[Images]:
    """The image API with a largest image of 1000 bytes."""
    yield from make_images(cloud, tmp_path, max_image_size=1000)


def test_the_largest_image_size(small_images: Images) -> None:
    images = small_images
    image = images.create("alice")
    error_message(images.upload(image["id"], b"m" * 1001, "alice"), 413)
    error_message(images.call("PUT", f"/images/{image['id']}/file", "alice",
                              content=iter([b"m" * 600, b"m" * 401]), headers=OCTETS), 413)
    assert images.stored_files() == []
    assert images.show(image["id"], "alice")["status"] == "queued"
    assert images.upload(image["id"], b"m" * 1000, "alice").status_code == 204


def test_deleting_an_image_removes_its_file(images: Images) -> None:
    done = active(images, "alice")
    assert images.stored_files() == [done["id"]]
    assert images.call("DELETE", f"/images/{done['id']}", "alice").status_code == 204
    assert images.stored_files() == []
    error_message(images.call("GET", f"/images/{done['id']}/file", "alice"), 404)
    error_message(images.upload(done["id"], DATA, "alice"), 409)
    assert images.stored_files() == []


def test_deactivate_and_reactivate(images: Images) -> None:
    done = active(images, "alice")
    path = f"/images/{done['id']}"
    assert images.call("POST", f"{path}/actions/deactivate", "alice").status_code == 204
    assert images.call("POST", f"{path}/actions/deactivate", "alice").status_code == 204
    assert images.show(done["id"], "alice")["status"] == "deactivated"
    error_message(images.call("GET", f"{path}/file", "alice"), 403)
    error_message(images.call("GET", f"{path}/file", "amy", headers={"Range": "bytes=0-1"}),
                  403)
    assert images.call("GET", f"{path}/file", "admin").content == DATA  # an admin may
    assert images.call("POST", f"{path}/actions/reactivate", "alice").status_code == 204
    assert images.show(done["id"], "alice")["status"] == "active"
    assert images.call("GET", f"{path}/file", "alice").content == DATA
    # only an active image is deactivated, only a deactivated one reactivated (Glance: 403)
    queued = images.create("alice")
    error_message(images.call("POST", f"/images/{queued['id']}/actions/deactivate", "alice"),
                  403)
    error_message(images.call("POST", f"/images/{queued['id']}/actions/reactivate", "alice"),
                  403)
    # not the owner: 403 when it can see the image, 404 when it cannot
    public = active(images, "admin", visibility="public")
    error_message(images.call("POST", f"/images/{public['id']}/actions/deactivate", "bob"),
                  403)
    error_message(images.call("POST", f"{path}/actions/deactivate", "bob"), 404)
    error_message(images.call("POST", f"{path}/actions/deactivate", "reader"), 403)


def test_tags(images: Images) -> None:
    image = images.create("alice", tags=["one"])
    iid = image["id"]
    assert images.call("PUT", f"/images/{iid}/tags/two", "alice").status_code == 204
    assert images.call("PUT", f"/images/{iid}/tags/two", "alice").status_code == 204
    assert images.call("PUT", f"/images/{iid}/tags/Two", "alice").status_code == 204
    assert sorted(images.show(iid)["tags"]) == ["Two", "one", "two"]
    other = images.create("alice", tags=["two", "three"])
    assert set(images.ids("alice", tag="two")) == {iid, other["id"]}
    assert images.ids("alice", tag="Two") == [iid]
    assert images.ids("alice", tag=["two", "three"]) == [other["id"]]
    assert images.ids("alice", tag="nope") == []
    assert images.call("DELETE", f"/images/{iid}/tags/two", "alice").status_code == 204
    assert sorted(images.show(iid)["tags"]) == ["Two", "one"]
    error_message(images.call("DELETE", f"/images/{iid}/tags/two", "alice"), 404)
    # tags that differ only in case or trailing space are different tags on every engine
    resp = images.patch(iid, [{"op": "replace", "path": "/tags",
                               "value": ["a", "A", "a ", "é", "e"]}], "alice")
    assert resp.status_code == 200, resp.text
    assert sorted(resp.json()["tags"]) == sorted(["a", "A", "a ", "é", "e"])
    assert images.ids("alice", tag="e") == [iid]
    # someone else's image
    error_message(images.call("PUT", f"/images/{iid}/tags/x", "bob"), 404)
    error_message(images.call("PUT", f"/images/{iid}/tags/x", "reader"), 403)
    error_message(images.call("PUT", f"/images/{iid}/tags/{'x' * 256}", "alice"), 400)


# -- visibility and tenancy --------------------------------------------------------------

def test_a_private_image_is_invisible_to_other_projects(images: Images) -> None:
    done = active(images, "alice", visibility="private")
    iid = done["id"]
    for who in ("bob", "carol"):
        error_message(images.call("GET", f"/images/{iid}", who), 404)
        error_message(images.call("GET", f"/images/{iid}/file", who), 404)
        error_message(images.call("PATCH", f"/images/{iid}", who, json=[],
                                  headers=PATCH), 404)
        error_message(images.call("DELETE", f"/images/{iid}", who), 404)
        assert iid not in images.ids(who)
        assert iid not in images.ids(who, visibility="private")
        assert iid not in images.ids(who, visibility="all")
        assert iid not in images.ids(who, id=f"in:{iid}")
    assert images.show(iid, "reader")["id"] == iid
    assert iid in images.ids("admin")


def test_a_shared_image_is_listed_for_a_member_once_accepted(images: Images) -> None:
    done = active(images, "alice")
    iid, b, c = done["id"], images.projects["b"], images.projects["c"]
    assert done["visibility"] == "shared"
    error_message(images.call("GET", f"/images/{iid}", "bob"), 404)
    members = f"/images/{iid}/members"
    error_message(images.call("GET", members, "bob"), 404)

    added = images.ok("POST", members, "alice", json={"member": b})
    assert (added["image_id"], added["member_id"], added["status"]) == (iid, b, "pending")
    error_message(images.call("POST", members, "alice", json={"member": b}), 409)
    # pending: bob can look at it (to decide) but does not list it
    assert images.show(iid, "bob")["id"] == iid
    assert iid not in images.ids("bob")
    assert iid not in images.ids("bob", visibility="shared")
    assert iid in images.ids("bob", member_status="pending")
    assert iid in images.ids("bob", member_status="all")
    assert iid not in images.ids("bob", member_status="accepted")
    error_message(images.call("GET", f"/images/{iid}", "carol"), 404)

    # only bob's project answers for bob's project
    error_message(images.call("PUT", f"{members}/{b}", "alice",
                              json={"status": "accepted"}), 403)
    error_message(images.call("PUT", f"{members}/{c}", "bob",
                              json={"status": "accepted"}), 404)
    accepted = images.ok("PUT", f"{members}/{b}", "bob", json={"status": "accepted"})
    assert accepted["status"] == "accepted"
    assert iid in images.ids("bob")
    assert iid in images.ids("bob", visibility="shared")
    assert iid not in images.ids("bob", member_status="pending")
    assert images.ok("GET", f"/images/{iid}/file", "bob") == DATA

    # members see their own membership, the owner sees all
    images.ok("POST", members, "alice", json={"member": c})
    assert [m["member_id"] for m in images.ok("GET", members, "bob")["members"]] == [b]
    assert {m["member_id"] for m in images.ok("GET", members, "alice")["members"]} == {b, c}
    assert images.ok("GET", f"{members}/{b}", "bob")["status"] == "accepted"
    error_message(images.call("GET", f"{members}/{c}", "bob"), 404)
    # a member neither shares further nor changes the image
    error_message(images.call("POST", members, "bob", json={"member": c}), 403)
    error_message(images.call("DELETE", f"{members}/{c}", "bob"), 403)
    error_message(images.patch(iid, [{"op": "replace", "path": "/name", "value": "x"}],
                               "bob"), 403)
    error_message(images.call("DELETE", f"/images/{iid}", "bob"), 403)

    # rejected: not listed, still shown (Glance)
    images.ok("PUT", f"{members}/{b}", "bob", json={"status": "rejected"})
    assert iid not in images.ids("bob")
    assert iid in images.ids("bob", member_status="rejected")
    assert images.show(iid, "bob")["id"] == iid
    # removed: gone for bob
    assert images.call("DELETE", f"{members}/{b}", "alice").status_code == 204
    error_message(images.call("GET", f"/images/{iid}", "bob"), 404)
    error_message(images.call("DELETE", f"{members}/{b}", "alice"), 404)
    # made private, its members no longer see it
    images.ok("PUT", f"{members}/{c}", "carol", json={"status": "accepted"})
    assert iid in images.ids("carol")
    assert images.patch(iid, [{"op": "replace", "path": "/visibility", "value": "private"}],
                        "alice").status_code == 200
    error_message(images.call("GET", f"/images/{iid}", "carol"), 404)
    # only shared images have members
    error_message(images.call("POST", members, "alice", json={"member": b}), 403)
    error_message(images.call("GET", members, "alice"), 403)


def test_a_community_image_is_shown_to_anyone_listed_only_when_asked(images: Images) -> None:
    done = active(images, "alice", visibility="community")
    iid = done["id"]
    for who in ("bob", "carol", "admin"):
        assert images.show(iid, who)["id"] == iid
        assert iid not in images.ids(who)
        assert iid in images.ids(who, visibility="community")
        assert iid in images.ids(who, visibility="all")
    assert images.ok("GET", f"/images/{iid}/file", "bob") == DATA
    assert iid in images.ids("alice")  # the owner lists its own
    # anyone may use it; only the owner or an admin changes it
    error_message(images.patch(iid, [{"op": "replace", "path": "/name", "value": "x"}],
                               "bob"), 403)
    error_message(images.call("DELETE", f"/images/{iid}", "bob"), 403)
    error_message(images.call("PUT", f"/images/{iid}/tags/x", "bob"), 403)
    assert images.patch(iid, [{"op": "replace", "path": "/name", "value": "by-admin"}],
                        "admin").json()["name"] == "by-admin"
    assert images.call("DELETE", f"/images/{iid}", "admin").status_code == 204


def test_only_an_admin_makes_an_image_public(images: Images) -> None:
    error_message(images.call("POST", "/images", "alice", json={"visibility": "public"}), 403)
    error_message(images.call("POST", "/images", "amy", json={"visibility": "public"}), 403)
    mine = images.create("alice")
    error_message(images.patch(mine["id"], [{"op": "replace", "path": "/visibility",
                                             "value": "public"}], "alice"), 403)
    assert images.show(mine["id"])["visibility"] == "shared"
    public = active(images, "admin", visibility="public")
    for who in ("alice", "bob", "reader"):
        assert public["id"] in images.ids(who)
        assert images.ok("GET", f"/images/{public['id']}/file", who) == DATA
    error_message(images.patch(public["id"], [{"op": "replace", "path": "/name",
                                               "value": "x"}], "bob"), 403)
    assert images.patch(mine["id"], [{"op": "replace", "path": "/visibility",
                                      "value": "public"}], "admin").status_code == 200
    # an admin may also change someone else's image and delete it
    assert images.call("DELETE", f"/images/{mine['id']}", "admin").status_code == 204


def test_a_reader_looks_but_does_not_touch(images: Images) -> None:
    error_message(images.call("POST", "/images", "reader", json={"name": "r"}), 403)
    mine = images.create("alice", visibility="shared")
    assert images.show(mine["id"], "reader")["id"] == mine["id"]
    assert mine["id"] in images.ids("reader")
    error_message(images.patch(mine["id"], [{"op": "replace", "path": "/name",
                                             "value": "x"}], "reader"), 403)
    error_message(images.upload(mine["id"], DATA, "reader"), 403)
    error_message(images.call("DELETE", f"/images/{mine['id']}", "reader"), 403)
    error_message(images.call("POST", f"/images/{mine['id']}/members", "reader",
                              json={"member": images.projects["b"]}), 403)
    assert images.show(mine["id"])["status"] == "queued"


# -- lists -------------------------------------------------------------------------------

def test_list_filters(images: Images) -> None:
    one = active(images, "alice", name="one", visibility="private", tags=["x"])
    two = images.create("alice", name="two", tags=["x", "y"])
    pub = images.create("admin", name="one", visibility="public")
    everything = {one["id"], two["id"], pub["id"]}
    assert set(images.ids("alice")) == everything
    assert set(images.ids("alice", name="one")) == {one["id"], pub["id"]}
    assert images.ids("alice", status="active") == [one["id"]]
    assert set(images.ids("alice", status="queued")) == {two["id"], pub["id"]}
    assert images.ids("alice", visibility="private") == [one["id"]]
    assert images.ids("alice", visibility="public") == [pub["id"]]
    assert images.ids("alice", visibility="shared") == [two["id"]]
    assert set(images.ids("alice", owner=images.projects["a"])) == {one["id"], two["id"]}
    assert images.ids("alice", owner=images.projects["admin"]) == [pub["id"]]
    assert images.ids("alice", tag="y") == [two["id"]]
    assert set(images.ids("alice", id=f"in:{one['id']},{pub['id']},nope")) == {
        one["id"], pub["id"]}
    assert images.ids("alice", name="one", status="active", tag="x") == [one["id"]]
    # hidden images are listed only when asked for
    images.patch(two["id"], [{"op": "replace", "path": "/os_hidden", "value": True}], "alice")
    assert two["id"] not in images.ids("alice")
    assert images.ids("alice", os_hidden="true") == [two["id"]]
    assert images.show(two["id"], "alice")["os_hidden"] is True


def test_sorting(images: Images) -> None:
    made = [images.create("alice", name=n) for n in ("b", "a", "c")]
    by_name = images.ids("alice", sort_key="name", sort_dir="asc")
    assert by_name == [made[1]["id"], made[0]["id"], made[2]["id"]]
    assert images.ids("alice", sort_key="name", sort_dir="desc") == by_name[::-1]
    assert images.ids("alice", sort="name:asc") == by_name
    assert images.ids("alice", sort="name") == by_name[::-1]  # desc unless told
    # newest first by default
    assert images.ids("alice") == [m["id"] for m in reversed(made)]
    assert images.ids("alice", sort_key="created_at", sort_dir="asc") == [m["id"] for m in made]
    assert images.ids("alice", sort_key=["status", "name"], sort_dir="asc") == by_name


def test_paging_walks_every_image_exactly_once(images: Images) -> None:
    names = ["b", None, "a", "b", None, "c", "a", "b", "d", None, "e", "b"]
    made = []
    for i, name in enumerate(names):
        image = images.create("alice", name=name)
        if i % 3 == 0:  # some have a size, the rest none
            assert images.upload(image["id"], b"s" * (i * 10 % 7 + 1), "alice"
                                 ).status_code == 204
        made.append(image["id"])
    for params in ({}, {"sort_key": "name", "sort_dir": "asc"},
                   {"sort_key": "name", "sort_dir": "desc"},
                   {"sort_key": "size", "sort_dir": "asc"},
                   {"sort_key": "size", "sort_dir": "desc"},
                   {"sort": "name:asc,size:desc"}, {"sort": "status,name:asc"},
                   {"sort_key": "created_at", "sort_dir": "asc"}):
        full = images.ids("alice", limit=1000, **params)
        assert sorted(full) == sorted(made), params
        for limit in (1, 5):
            walked = walk(images, "alice", {**params, "limit": limit}, len(made) + 2)
            assert walked == full, (params, limit)
    # a sorted page really is sorted, NULLs first going up
    names_up = [i["name"] for i in images.ok("GET", "/images", "alice", params={
        "sort_key": "name", "sort_dir": "asc", "limit": 1000})["images"]]
    assert names_up == sorted(names, key=lambda n: (n is not None, n or ""))


def walk(images: Images, who: str, params: dict[str, Any], max_pages: int) -> list[str]:
    """Follow ``next`` links from the first page; at most ``max_pages`` requests."""
    body = images.ok("GET", "/images", who, params=params)
    ids = [i["id"] for i in body["images"]]
    for _ in range(max_pages):
        if "next" not in body:
            return ids
        assert body["next"].startswith("/v2/images?")
        body = images.ok("GET", "/image" + body["next"], who)
        ids += [i["id"] for i in body["images"]]
    raise AssertionError(f"more than {max_pages} pages for {params}")


def test_a_marker_from_elsewhere_is_400(images: Images) -> None:
    theirs = images.create("bob", visibility="private")
    for marker in ("nope", theirs["id"]):
        error_message(images.call("GET", "/images", "alice", params={"marker": marker}), 400)


# -- bad input ---------------------------------------------------------------------------

def test_upload_to_an_active_or_deleted_image_is_409(images: Images) -> None:
    done = active(images, "alice")
    error_message(images.upload(done["id"], b"more", "alice"), 409)
    assert images.ok("GET", f"/images/{done['id']}/file", "alice") == DATA
    assert images.call("DELETE", f"/images/{done['id']}", "alice").status_code == 204
    error_message(images.upload(done["id"], b"more", "alice"), 409)
    assert images.stored_files() == []
    queued = images.create("alice")
    error_message(images.call("PUT", f"/images/{queued['id']}/file", "alice", content=b"x",
                              headers={"content-type": "application/json"}), 415)
    error_message(images.upload("6bbe8a4d-2d7c-4b8a-9d0e-d47c6f1c2a12", b"x", "alice"), 404)


def test_unknown_formats_are_400(images: Images) -> None:
    for field in ("disk_format", "container_format"):
        error_message(images.call("POST", "/images", "alice", json={field: "floppy"}), 400)
        image = images.create("alice")
        error_message(images.patch(image["id"], [{"op": "replace", "path": f"/{field}",
                                                  "value": "floppy"}], "alice"), 400)


def test_read_only_attributes_are_403(images: Images) -> None:
    done = active(images, "alice")
    before = images.show(done["id"])
    for name in ("id", "status", "checksum", "size", "virtual_size", "owner", "os_hash_algo",
                 "os_hash_value", "created_at", "updated_at", "self", "file", "schema",
                 "locations", "direct_url"):
        for op in ("replace", "add", "remove"):
            value = None if op == "remove" else ("x" if name != "size" else 5)
            change = {"op": op, "path": f"/{name}", **({} if value is None else
                                                       {"value": value})}
            resp = images.patch(done["id"], [change], "alice")
            assert "read-only" in error_message(resp, 403), (name, op)
        if name != "id":
            error_message(images.call("POST", "/images", "alice", json={name: "x"}), 403)
    assert images.show(done["id"]) == before


def test_json_bodies_over_the_limit_are_413(images: Images) -> None:
    big = {"name": "x", **{f"k{i}": "v" * 1000 for i in range(120)}}
    assert len(json.dumps(big)) > DEFAULT_MAX_BODY
    error_message(images.call("POST", "/images", "alice", json=big), 413)
    image = images.create("alice")
    ops = [{"op": "add", "path": f"/k{i}", "value": "v" * 1000} for i in range(120)]
    error_message(images.patch(image["id"], ops, "alice"), 413)
    assert images.ids("alice") == [image["id"]]


def test_too_many_properties_or_tags_are_refused(images: Images) -> None:
    image = images.create("alice", **{f"p{i}": "v" for i in range(128)})
    iid = image["id"]
    error_message(images.patch(iid, [{"op": "add", "path": "/one-more", "value": "v"}],
                               "alice"), 413)
    assert images.patch(iid, [{"op": "replace", "path": "/tags",
                               "value": [f"t{i}" for i in range(128)]}],
                        "alice").status_code == 200
    error_message(images.call("PUT", f"/images/{iid}/tags/one-more", "alice"), 413)
    assert len(images.show(iid)["tags"]) == 128


MALFORMED = (b"", b"{", b"}", b"{'name': 'x'}", b'{"name": "x",}', b'{"name": "x"} trailing',
             b"name=x", b"\xff\xfe", b'{"name": "\xff"}', b"\x00", b"NaN", b"[1,",
             b"[" * 5000, b'{"a":' * 5000, b'{"name": "\\ud800"}', b'{"min_ram": 1e999}')


def test_malformed_json_is_400(images: Images) -> None:
    image = images.create("alice")
    for raw in MALFORMED:
        error_message(images.call("POST", "/images", "alice", content=raw,
                                  headers={"content-type": "application/json"}), 400)
        error_message(images.call("PATCH", f"/images/{image['id']}", "alice", content=raw,
                                  headers=PATCH), 400)
        error_message(images.call("POST", f"/images/{image['id']}/members", "alice",
                                  content=raw, headers={"content-type": "application/json"}),
                      400)
    assert images.ids("alice") == [image["id"]]


WRONG_TYPES: list[Any] = [
    [], "x", 1, None, {"name": 5}, {"name": "x" * 256}, {"visibility": "everyone"},
    {"protected": "yes"}, {"protected": 1}, {"min_disk": -1}, {"min_ram": "512"},
    {"min_ram": 2**40}, {"min_disk": 1.5}, {"min_disk": True}, {"tags": "a,b"},
    {"tags": [1]}, {"tags": [""]}, {"tags": ["x" * 256]}, {"os_distro": 5},
    {"os_distro": ["debian"]}, {"os_distro": {"a": 1}}, {"id": "not-a-uuid"},
    {"kernel_id": "x"}, {"a/b": "slash in a name"}, {"x" * 256: "long name"},
    {"disk_format": 5}, {"os_hidden": "false"},
]


def test_wrong_types_are_400(images: Images) -> None:
    image = images.create("alice")
    for body in WRONG_TYPES:
        error_message(images.call("POST", "/images", "alice", json=body), 400)
        if isinstance(body, dict):
            ops = [{"op": "replace" if k in image else "add", "path": f"/{k}", "value": v}
                   for k, v in body.items() if k != "id"]
            if ops:
                resp = images.patch(image["id"], ops, "alice")
                error_message(resp, 400)
    for ops in ([{"op": "move", "path": "/name", "value": "x"}],
                [{"op": "replace", "value": "x"}], [{"path": "/name", "value": "x"}],
                [{"op": "replace", "path": "name", "value": "x"}],
                [{"op": "replace", "path": "/a/b", "value": "x"}],
                [{"op": "replace", "path": "/name"}], [{"op": "add", "path": "/k"}],
                ["not an object"], {"op": "replace"}, "x", None, 5):
        error_message(images.patch(image["id"], ops, "alice"), 400)
    for body in ({}, {"member": 5}, {"member": ""}, {"member": "x" * 65}, {"status": "x"}):
        shared = images.create("alice")
        error_message(images.call("POST", f"/images/{shared['id']}/members", "alice",
                                  json=body), 400)
    error_message(images.call("PUT", f"/images/{image['id']}/members/x", "alice",
                              json={"status": "maybe"}), 400)
    assert images.show(image["id"]) == image
    assert len(images.ids("alice", limit=1000)) == 1 + 5  # the five shared ones above


def test_bad_query_parameters_are_400(images: Images) -> None:
    images.create("alice")
    for params in ({"sort_key": "nope"}, {"sort_key": "properties"}, {"sort_dir": "up"},
                   {"sort": "name:up"}, {"sort": "nope:asc"}, {"sort": ""},
                   {"sort_key": ["name", "id"], "sort_dir": ["asc", "desc", "asc"]},
                   {"limit": "-1"}, {"limit": "x"}, {"limit": "1.5"}, {"limit": ""},
                   {"limit": "99999999999999999999999"}, {"visibility": "everyone"},
                   {"member_status": "maybe"}, {"id": "a,b"}, {"os_hidden": "maybe"},
                   {"marker": "nope"}):
        resp = images.call("GET", "/images", "alice", params=params)
        error_message(resp, 400)


def test_unknown_routes_and_methods(images: Images) -> None:
    error_message(images.call("GET", "/nothing-here"), 404)
    error_message(images.call("POST", "/schemas/image"), 405)
    error_message(images.call("GET", "/images/6bbe8a4d-2d7c-4b8a-9d0e-d47c6f1c2a13"), 404)


# -- fuzz: every route that takes a JSON body --------------------------------------------

RAW_BAD = (b"", b"{", b"[]", b"null", b'"x"', b"1", b"{}", b"\xff", b"NaN", b"[" * 5000,
           b'{"a": ' * 100 + b"1" + b"}" * 100)
#: What RAW_BAD holds that a route takes as it is: a new image, an empty patch.
VALID = {"create": b"{}", "patch": b"[]"}


def wrong_values(schema: dict[str, Any]) -> Iterator[Any]:
    """A handful of values this property schema must refuse."""
    kinds = schema.get("type", [])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    yield from ([1] * 40, {"deep": deep})
    if "enum" in schema:
        yield "not-one-of-them"
    if "string" in kinds:
        yield from (12345, "x" * (schema.get("maxLength", 255) + 1))
    if "pattern" in schema:
        yield "/\n"
    if "integer" in kinds:
        yield from ("1", -1, 2**63, 1.5, True)
    if "boolean" in kinds:
        yield from ("yes", 0, None)
    if "array" in kinds:
        yield from ({"not": "a list"}, ["x"] * (schema.get("maxItems", 0) + 1), [5])


def test_fuzz_every_route_that_takes_a_body(images: Images) -> None:
    """POST, PATCH, PUT with bad bodies at made-up and real ids: 4xx, never 5xx, no change."""
    image = images.create("alice", name="fuzz", k="v", tags=["t"])
    iid, b = image["id"], images.projects["b"]
    images.ok("POST", f"/images/{iid}/members", "alice", json={"member": b})
    bodies: dict[str, list[bytes]] = {}
    for prop, prop_schema in schemas.IMAGE_PROPERTIES.items():
        for value in wrong_values(prop_schema):
            bodies.setdefault("create", []).append(json.dumps({prop: value}).encode())
            if prop != "id":
                bodies.setdefault("patch", []).append(json.dumps([
                    {"op": "replace", "path": f"/{prop}", "value": value}]).encode())
    for value in (5, ["x"], {"a": "b"}, True, "x" * 65536):
        bodies["create"].append(json.dumps({"extra": value}).encode())
        bodies["patch"].append(json.dumps([{"op": "add", "path": "/extra", "value": value}])
                               .encode())
    for value in (None, 5, "", "x" * 65, ["x"]):
        bodies.setdefault("member", []).append(json.dumps({"member": value}).encode())
        bodies["member"].append(json.dumps({"status": value}).encode())
    problems: list[str] = []
    routes = [ep for ep in build_api(images.service, images.cloud.identity.tokens).endpoints
              if ep.method in ("POST", "PATCH", "PUT") and not ep.stream]
    assert len(routes) >= 6
    fills = {"image_id": iid, "member_id": b, "tag": "t"}
    before = images.show(iid)
    statuses: dict[int, int] = {}
    for ep in routes:
        key = ("create" if ep.path == "/v2/images" else "patch" if ep.method == "PATCH"
               else "member")
        for fill in ({}, fills) if ep.schema is not None else ({},):
            path = ep.path
            for name in ("image_id", "member_id", "tag"):
                path = path.replace("{" + name + "}", fill.get(name, "nowhere0000"))
            for raw in (*RAW_BAD, *(bodies[key] if ep.schema is not None else ())):
                if raw == VALID.get(key):
                    continue
                ctype = PATCH if ep.method == "PATCH" else {"content-type": "application/json"}
                resp = images.call(ep.method, path.removeprefix("/v2"), "alice", content=raw,
                                   headers=ctype)
                statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
                where = f"{ep.method} {path} {raw[:80]!r}: {resp.status_code}"
                if not 400 <= resp.status_code < 500:
                    problems.append(f"{where} {resp.text[:150]}")
                    continue
                try:
                    error_message(resp, resp.status_code)
                except (AssertionError, ValueError) as exc:
                    problems.append(f"{where}: bad error body {exc}")
                after = images.show(iid)
                if after != before:
                    problems.append(f"{where}: changed the image")
                    before = after
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:60])
    assert images.ids("alice") == [iid]
    assert sum(statuses.values()) > 200 and set(statuses) >= {400, 404}, statuses


# -- raw ASGI: uploads that stop, and what happens between their parts ------------------

def send_upload(images: Images, image_id: str, who: str, parts: list[bytes], *,
                length: int | None = None, disconnect: bool = False,
                between: Any = None) -> int:
    """PUT ``parts`` as separate ASGI messages; optionally the client then goes away.

    ``between`` runs after the first part is taken and before the next is given.
    Returns the response status.
    """
    total = sum(map(len, parts)) if length is None else length
    path = f"{V2}/images/{image_id}/file"
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
        "headers": [(b"host", b"testserver"), (b"x-auth-token", images.token(who).encode()),
                    (b"content-type", OCTETS["content-type"].encode()),
                    (b"content-length", str(total).encode())],
    }
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1 or disconnect}
        for i, part in enumerate(parts)]
    if disconnect:
        messages.append({"type": "http.disconnect"})
    given = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal given
        if given == 1 and between is not None:
            between()
        if given >= len(messages):  # asked again after the end: the client is gone
            return {"type": "http.disconnect"}
        given += 1
        return messages[given - 1]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        await images.client.app(scope, receive, send)

    anyio.run(run)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    return int(starts[0]["status"])


def test_ranges_after_an_upload_in_many_small_parts(images: Images) -> None:
    image = images.create("alice", disk_format="raw")
    parts = [DATA[i:i + 777] for i in range(0, len(DATA), 777)]
    assert send_upload(images, image["id"], "alice", parts) == 204
    done = images.show(image["id"], "alice")
    assert (done["size"], done["checksum"]) == (len(DATA), md5(DATA))
    resp = images.call("GET", f"/images/{image['id']}/file", "alice",
                       headers={"Range": "bytes=700-800"})
    assert resp.status_code == 206 and resp.content == DATA[700:801]


@pytest.mark.parametrize("who", ["bob", "reader"])
def test_uploads_by_others_leave_the_image_queued(images: Images, who: str) -> None:
    image = images.create("alice", visibility="community")
    error_message(images.upload(image["id"], DATA, who), 403)
    assert images.show(image["id"], "alice")["status"] == "queued"
    assert images.stored_files() == []
