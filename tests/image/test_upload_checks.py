"""What an upload must pass before its image goes active, through plain HTTP on SQLite
and MariaDB: the format inspection (OSSA-2024-001's class), the project's quota for
uploads sent chunked, and the sweep of uploads a crash cut short."""

from __future__ import annotations

import fcntl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from labs.image import models
from labs.image.config import ImageOptions
from labs.wiring.image import new_images
from tests.conftest import Cloud
from tests.image.conftest import OCTETS, QUOTA, Images, error_message, make_images

MIB = 1 << 20


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def evil(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Images qemu must not open, and a plain one, made by qemu-img."""
    where = tmp_path_factory.mktemp("evil")
    secret = where / "host-secret"
    paths = {name: where / f"{name}.img" for name in
             ("data-file", "backing", "huge", "good", "raw")}
    qemu_img("create", "-q", "-f", "qcow2", "-o", f"data_file={secret},data_file_raw=on",
             str(paths["data-file"]), "1M")
    secret.write_bytes(b"the host's secret\n" * 100)
    qemu_img("create", "-q", "-f", "qcow2", "-b", str(secret), "-F", "raw",
             str(paths["backing"]), "1M")
    qemu_img("create", "-q", "-f", "qcow2", str(paths["huge"]), "64T")
    qemu_img("create", "-q", "-f", "qcow2", str(paths["good"]), "1M")
    paths["raw"].write_bytes(bytes(range(256)) * 64)
    return {name: path.read_bytes() for name, path in paths.items()}


@pytest.fixture
def roomy(cloud: Cloud, tmp_path: Path) -> Iterator[Images]:
    """Room for the qcow2 files above, and a guest disk of at most 1 GiB."""
    yield from make_images(cloud, tmp_path, project_quota_bytes=16 * MIB,
                           max_virtual_size=1 << 30)


@pytest.mark.parametrize(("name", "declared", "says"), [
    ("data-file", "qcow2", "an external data file"),
    ("backing", "qcow2", "a backing file"),
    ("huge", "qcow2", "virtual size"),
    ("raw", "qcow2", "is raw, not the qcow2"),
    ("good", "raw", "is qcow2, not the raw"),
    ("good", None, "is qcow2: set the image's disk_format"),
])
def test_unsafe_or_mislabelled_images_are_400_and_stay_queued(
        roomy: Images, evil: dict[str, bytes], name: str, declared: str | None,
        says: str) -> None:
    images = roomy
    fields = {"container_format": "bare"} | ({"disk_format": declared} if declared else {})
    image = images.create("alice", **fields)
    for send in ([evil[name]], [evil[name][:1000], evil[name][1000:]]):  # sized, chunked
        resp = images.call("PUT", f"/images/{image['id']}/file", "alice",
                           content=send[0] if len(send) == 1 else iter(send), headers=OCTETS)
        assert says in error_message(resp, 400)
        shown = images.show(image["id"], "alice")
        assert (shown["status"], shown["size"], shown["checksum"]) == ("queued", None, None)
        assert images.stored_files() == []
    with images.service.db.transaction() as tx:
        assert tx.scalar(sa.select(models.Image.reserved).where(
            models.Image.id == image["id"])) == 0
    # the image takes good data afterwards
    good = evil["good"] if declared in ("qcow2", None) else evil["raw"]
    if declared is None:
        images.patch(image["id"], [{"op": "add", "path": "/disk_format", "value": "qcow2"}],
                     "alice")
    assert images.upload(image["id"], good, "alice").status_code == 204
    assert images.show(image["id"], "alice")["status"] == "active"


def test_a_safe_qcow2_goes_active_with_its_virtual_size(roomy: Images,
                                                        evil: dict[str, bytes]) -> None:
    image = roomy.create("alice", disk_format="qcow2", container_format="bare")
    resp = roomy.call("PUT", f"/images/{image['id']}/file", "alice",
                      content=iter([evil["good"][:100], evil["good"][100:]]), headers=OCTETS)
    assert resp.status_code == 204, resp.text
    shown = roomy.show(image["id"], "alice")
    assert (shown["status"], shown["virtual_size"]) == ("active", MIB)


def chunked_race(images: Images, image_ids: list[str], data: bytes, parts: int) -> list[int]:
    """Upload `data` to each image at once, sent chunked (no Content-Length)."""
    barrier = threading.Barrier(len(image_ids))
    statuses = [0] * len(image_ids)
    step = len(data) // parts

    def body() -> Iterator[bytes]:
        for at in range(0, len(data), step):
            yield data[at:at + step]

    def upload(i: int) -> None:
        barrier.wait(timeout=30)
        resp = images.call("PUT", f"/images/{image_ids[i]}/file", "alice", content=body(),
                           headers=OCTETS)
        assert "content-length" not in resp.request.headers
        statuses[i] = resp.status_code

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(image_ids))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return statuses


def test_parallel_chunked_uploads_keep_to_the_quota(images: Images) -> None:
    data = b"c" * (QUOTA * 4 // 10)  # two fit, the third does not
    made = [images.create("alice" if i % 2 else "amy")["id"] for i in range(4)]
    statuses = chunked_race(images, made, data, parts=40)
    assert sorted(statuses) == [204, 204, 413, 413], statuses
    assert len(images.stored_files()) == 2
    shown = [images.show(i) for i in made]
    assert sorted(s["status"] for s in shown) == ["active", "active", "queued", "queued"]
    assert sum(s["size"] or 0 for s in shown) <= QUOTA
    with images.service.db.transaction() as tx:
        assert images.service.quota.usage(tx, images.project_of("alice")) == 2 * len(data)
        assert not tx.scalar(sa.select(sa.func.sum(models.Image.reserved)))


def test_a_chunked_upload_holds_its_reservation_as_it_goes(images: Images) -> None:
    image = images.create("alice")
    seen: list[int] = []
    project = images.project_of("alice")
    ctx = images.cloud.identity.tokens.authenticate(images.token("alice"))

    def body() -> Iterator[bytes]:
        for _ in range(8):
            yield b"s" * 50_000
            with images.service.db.transaction() as tx:
                seen.append(images.service.quota.usage(tx, project))

    # the service, as the API hands it a body without a length
    assert images.service.data.upload(ctx, image["id"], body(), None).row.status == "active"
    # what the project uses covers what has arrived, and never runs past the quota
    assert all(50_000 * (i + 1) <= used <= QUOTA for i, used in enumerate(seen)), seen
    assert images.show(image["id"])["size"] == 400_000


def crash_upload(images: Images, image_id: str, reserved: int) -> Path:
    """Leave the image as a crashed upload does: saving, holding a reservation, with a
    partial file in the store that nobody holds."""
    with images.service.db.transaction() as tx:
        tx.execute(sa.update(models.Image).where(models.Image.id == image_id)
                   .values(status="saving", reserved=reserved))
    partial = images.store_dir / f".upload-{image_id}-0123456789abcdef"
    partial.write_bytes(b"p" * 1000)
    return partial


def test_uploads_a_crash_left_in_saving_are_swept_at_start(images: Images,
                                                           tmp_path: Path) -> None:
    dead, live = images.create("alice"), images.create("alice")
    partial = crash_upload(images, dead["id"], QUOTA // 2)
    running = crash_upload(images, live["id"], QUOTA // 4)
    with open(running, "rb") as held:  # an upload still running, in another process
        fcntl.flock(held, fcntl.LOCK_EX)
        # the image service starts again (as `labs up` does)
        service = new_images(images.service.db, images.service.options, tmp_path)
        service.prepare()
        assert service.sweep_uploads() == 1
        assert images.show(dead["id"])["status"] == "queued"
        assert images.show(live["id"])["status"] == "saving"
        assert not partial.exists() and running.exists()
    with images.service.db.transaction() as tx:
        assert tx.scalar(sa.select(models.Image.reserved).where(
            models.Image.id == dead["id"])) == 0
    # the swept image takes data again, and its reservation is free for it
    assert images.upload(dead["id"], b"d" * (QUOTA // 2), "alice").status_code == 204


def test_the_store_sweep_leaves_a_running_upload_alone(images: Images) -> None:
    image = images.create("alice")
    running = crash_upload(images, image["id"], 0)
    with open(running, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        new_images(images.service.db, ImageOptions(store_dir=str(images.store_dir)),
                   images.store_dir.parent)
        assert running.exists()
    new_images(images.service.db, ImageOptions(store_dir=str(images.store_dir)),
               images.store_dir.parent)
    assert not running.exists()
