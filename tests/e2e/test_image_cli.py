"""Images through the unchanged `openstack` CLI and openstacksdk against `labs up`."""

from __future__ import annotations

import hashlib
import io
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from labs.wiring.host_network import BRIDGE_STATE
from tests.e2e.conftest import RunningCloud, start_labs_up

if TYPE_CHECKING:
    from openstack.connection import Connection

pytestmark = pytest.mark.e2e


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A qcow2 file made by qemu-img (64 MiB virtual) and a small raw one."""
    where = tmp_path_factory.mktemp("image-files")
    qcow2 = where / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(qcow2), "64M"], check=True,
                   capture_output=True, timeout=30)
    raw = where / "disk.raw"
    raw.write_bytes(bytes(range(256)) * 1200 + b"end")
    return {"qcow2": qcow2, "raw": raw}


def image_names(cloud: RunningCloud, who: str = "labs", *args: str) -> set[str]:
    return {i["Name"] for i in cloud.openstack_json("image", "list", *args, cloud=who)}


def test_create_list_show_save(labs_cloud: RunningCloud, files: dict[str, Path],
                               tmp_path: Path) -> None:
    c = labs_cloud
    made = {}
    for kind, path in files.items():
        image = c.openstack_json("image", "create", "--file", str(path), "--disk-format", kind,
                                 "--container-format", "bare", f"cli-{kind}")
        made[kind] = image
        assert image["status"] == "active"
        assert image["size"] == path.stat().st_size
        assert image["checksum"] == hashlib.md5(path.read_bytes(),
                                                usedforsecurity=False).hexdigest()
    assert made["qcow2"]["virtual_size"] == 64 * 2**20
    assert made["raw"]["virtual_size"] == files["raw"].stat().st_size
    assert {"cli-qcow2", "cli-raw"} <= image_names(c)
    long = {i["Name"]: i for i in c.openstack_json("image", "list", "--long")}
    assert long["cli-qcow2"]["Disk Format"] == "qcow2"
    assert long["cli-raw"]["Status"] == "active"
    shown = c.openstack_json("image", "show", "cli-qcow2")
    assert shown["id"] == made["qcow2"]["id"]
    assert shown["properties"]["os_hash_algo"] == "sha256"
    assert shown["properties"]["os_hash_value"] == hashlib.sha256(
        files["qcow2"].read_bytes()).hexdigest()
    for kind, path in files.items():
        out = tmp_path / f"saved.{kind}"
        c.openstack("image", "save", "--file", str(out), f"cli-{kind}")
        assert sha256(out) == sha256(path)
    # the store holds one file per image, named by its id
    store = c.data_dir / "images"
    assert {made["qcow2"]["id"], made["raw"]["id"]} <= {p.name for p in store.iterdir()}


def test_properties_and_tags(labs_cloud: RunningCloud, files: dict[str, Path]) -> None:
    c = labs_cloud
    c.openstack("image", "create", "--disk-format", "raw", "cli-props")
    c.openstack("image", "set", "--property", "os_distro=debian", "--property",
                "os_version=12", "cli-props")
    c.openstack("image", "set", "--tag", "golden", "--tag", "bookworm", "cli-props")
    shown = c.openstack_json("image", "show", "cli-props")
    assert shown["properties"]["os_distro"] == "debian"
    assert shown["properties"]["os_version"] == "12"
    assert sorted(shown["tags"]) == ["bookworm", "golden"]
    assert image_names(c, "labs", "--tag", "golden") == {"cli-props"}
    c.openstack("image", "unset", "--tag", "golden", "--property", "os_version", "cli-props")
    shown = c.openstack_json("image", "show", "cli-props")
    assert shown["tags"] == ["bookworm"]
    assert "os_version" not in shown["properties"]
    c.openstack("image", "set", "--name", "cli-props-renamed", "--min-ram", "256",
                "cli-props")
    assert c.openstack_json("image", "show", "cli-props-renamed")["min_ram"] == 256
    # read-only attributes stay so; the CLI reports the 403
    failed = c.openstack("image", "set", "--project", "demo", "cli-props-renamed",
                         check=False)
    assert failed.returncode != 0 and "403" in failed.stderr + failed.stdout


def test_sharing_with_another_project(labs_cloud: RunningCloud, files: dict[str, Path],
                                      tmp_path: Path) -> None:
    c = labs_cloud
    image = c.openstack_json("image", "create", "--file", str(files["raw"]), "--disk-format",
                             "raw", "--private", "cli-shared")
    iid = image["id"]
    # private: the demo project neither sees nor finds it
    assert "cli-shared" not in image_names(c, "labs-demo")
    assert c.openstack("image", "show", iid, cloud="labs-demo", check=False).returncode != 0

    c.openstack("image", "set", "--shared", "cli-shared")
    member = c.openstack_json("image", "add", "project", "cli-shared", "demo")
    assert member["status"] == "pending"
    # pending: demo may look at it, but does not list it
    assert c.openstack_json("image", "show", iid, cloud="labs-demo")["name"] == "cli-shared"
    assert "cli-shared" not in image_names(c, "labs-demo")
    assert "cli-shared" in image_names(c, "labs-demo", "--member-status", "pending")

    c.openstack("image", "set", "--accept", iid, cloud="labs-demo")
    assert "cli-shared" in image_names(c, "labs-demo")
    members = c.openstack_json("image", "member", "list", "cli-shared")
    assert [m["Status"] for m in members] == ["accepted"]
    out = tmp_path / "by-demo.raw"
    c.openstack("image", "save", "--file", str(out), iid, cloud="labs-demo")
    assert sha256(out) == sha256(files["raw"])
    # a member uses the image but does not change or delete it
    assert c.openstack("image", "set", "--name", "stolen", iid, cloud="labs-demo",
                       check=False).returncode != 0
    assert c.openstack("image", "delete", iid, cloud="labs-demo", check=False).returncode != 0
    # deactivated, only an admin downloads it
    c.openstack("image", "set", "--deactivate", iid)
    refused = c.openstack("image", "save", "--file", str(out), iid, cloud="labs-demo",
                          check=False)
    assert refused.returncode != 0
    c.openstack("image", "save", "--file", str(tmp_path / "by-admin.raw"), iid)
    c.openstack("image", "set", "--activate", iid)

    c.openstack("image", "remove", "project", "cli-shared", "demo")
    assert "cli-shared" not in image_names(c, "labs-demo")


def test_only_an_admin_publishes(labs_cloud: RunningCloud) -> None:
    c = labs_cloud
    refused = c.openstack("image", "create", "--public", "demo-public", cloud="labs-demo",
                          check=False)
    assert refused.returncode != 0 and "403" in refused.stderr + refused.stdout
    c.openstack("image", "create", "--public", "--disk-format", "raw", "cli-public")
    assert "cli-public" in image_names(c, "labs-demo")
    c.openstack("image", "create", "--community", "--disk-format", "raw", "cli-community")
    assert "cli-community" not in image_names(c, "labs-demo")
    assert "cli-community" in image_names(c, "labs-demo", "--community")


def test_delete_removes_the_image_and_its_file(labs_cloud: RunningCloud,
                                               files: dict[str, Path]) -> None:
    c = labs_cloud
    image = c.openstack_json("image", "create", "--file", str(files["raw"]), "--disk-format",
                             "raw", "cli-doomed")
    store = c.data_dir / "images" / image["id"]
    assert store.exists()
    c.openstack("image", "delete", "cli-doomed")
    assert "cli-doomed" not in image_names(c)
    assert not store.exists()
    assert c.openstack("image", "show", image["id"], check=False).returncode != 0


@pytest.fixture
def sdk(labs_cloud: RunningCloud) -> Iterator[Connection]:
    from openstack import connection
    from openstack.config import OpenStackConfig

    config = OpenStackConfig(config_files=[str(labs_cloud.clouds_yaml)], load_envvars=False)
    conn = connection.Connection(config=config.get_one("labs"))
    try:
        yield conn
    finally:
        conn.close()


def test_openstacksdk_images(sdk: Connection) -> None:
    data = bytes(range(256)) * 512 + b"sdk"
    created = sdk.image.create_image(name="sdk-image", data=data, disk_format="raw",
                                     container_format="bare")
    image = sdk.image.get_image(created.id)
    assert (image.status, image.size) == ("active", len(data))
    assert image.checksum == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert image.hash_algo == "sha256"
    assert image.hash_value == hashlib.sha256(data).hexdigest()
    assert sdk.image.download_image(image).content == data
    out = io.BytesIO()
    sdk.image.download_image(image, output=out)
    assert out.getvalue() == data
    assert "sdk-image" in {i.name for i in sdk.image.images()}
    # the SDK follows the `next` links: one image a page still yields every image once
    everything = [i.id for i in sdk.image.images()]
    paged = [i.id for i in sdk.image.images(limit=1)]
    assert sorted(paged) == sorted(everything) and len(set(paged)) == len(paged)
    sdk.image.delete_image(image)
    assert "sdk-image" not in {i.name for i in sdk.image.images()}


def test_an_upload_cut_off_mid_way_leaves_no_image_and_no_file(
        labs_cloud: RunningCloud) -> None:
    c = labs_cloud
    token = c.openstack_json("token", "issue")["id"]
    headers = {"X-Auth-Token": token}
    url = f"{c.url}/image/v2/images"
    image = httpx.post(url, json={"name": "cut-off"}, headers=headers, timeout=10).json()
    host, port = c.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"PUT /image/v2/images/{image['id']}/file HTTP/1.1\r\nHost: {host}\r\n"
                     f"X-Auth-Token: {token}\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: 1000000\r\n\r\n".encode() + b"x" * 5000)
        deadline = time.monotonic() + 10
        status = "queued"
        while status == "queued" and time.monotonic() < deadline:
            time.sleep(0.02)
            status = httpx.get(f"{url}/{image['id']}", headers=headers, timeout=10
                               ).json()["status"]
        assert status == "saving"
    # the connection is gone: the service notices, the upload ends, nothing is kept
    deadline = time.monotonic() + 10
    while status == "saving" and time.monotonic() < deadline:
        time.sleep(0.05)
        status = httpx.get(f"{url}/{image['id']}", headers=headers, timeout=10
                           ).json()["status"]
    assert status == "killed"
    store = c.data_dir / "images"
    assert not [p for p in store.iterdir() if image["id"] in p.name]


@pytest.fixture(scope="module")
def evil_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Images that would make qemu read files of the host (in the test's own directory),
    and files whose bytes are not the format they will be declared as."""
    where = tmp_path_factory.mktemp("evil-files")
    host = where / "host-file"
    made = {name: where / f"{name}.img" for name in
            ("data-file", "backing", "huge", "raw", "qcow2")}
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o",
                    f"data_file={host},data_file_raw=on", str(made["data-file"]), "1M"],
                   check=True, capture_output=True, timeout=30)
    host.write_text("the host's secret\n")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(host), "-F", "raw",
                    str(made["backing"]), "1M"], check=True, capture_output=True, timeout=30)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(made["huge"]), "64T"],
                   check=True, capture_output=True, timeout=30)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(made["qcow2"]), "1M"],
                   check=True, capture_output=True, timeout=30)
    made["raw"].write_bytes(bytes(range(256)) * 64)
    return made


@pytest.mark.parametrize(("name", "declared", "says"), [
    ("data-file", "qcow2", "external data file"), ("backing", "qcow2", "backing file"),
    ("huge", "qcow2", "virtual size"), ("raw", "qcow2", "is raw, not the qcow2"),
    ("qcow2", "raw", "is qcow2, not the raw")])
def test_an_image_that_would_read_host_files_or_lies_about_its_format_is_refused(
        labs_cloud: RunningCloud, evil_files: dict[str, Path], name: str, declared: str,
        says: str) -> None:
    c = labs_cloud
    image_name = f"evil-{name}-{declared}"
    store = c.data_dir / "images"
    before = {p.name for p in store.iterdir()}
    done = c.openstack("image", "create", "--disk-format", declared, "--container-format",
                       "bare", "--file", str(evil_files[name]), image_name, check=False)
    assert done.returncode != 0
    assert says in done.stderr, done.stderr
    # the service left the image queued with no data; the client then deleted it
    assert image_name not in image_names(c)
    assert {p.name for p in store.iterdir()} == before


def test_an_upload_a_crash_left_in_saving_is_queued_again_at_start(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # both starts on one network prefix: the second adopts what the crash left on the
    # host (its claim of the prefix) and gives it back when it stops
    env = {"LABS_AGENT_NETWORK_PREFIX": f"i{uuid.uuid4().hex[:7]}"}
    c = start_labs_up(data_dir, env)
    try:
        token = c.openstack_json("token", "issue")["id"]
        image = httpx.post(f"{c.url}/image/v2/images", json={"name": "crashed"},
                           headers={"X-Auth-Token": token}, timeout=10).json()
        host, port = c.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(f"PUT /image/v2/images/{image['id']}/file HTTP/1.1\r\nHost: {host}"
                         f"\r\nX-Auth-Token: {token}\r\nContent-Type: application/octet-"
                         "stream\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                         + b"1388\r\n" + b"x" * 5000 + b"\r\n")
            store = data_dir / "images"
            deadline = time.monotonic() + 10
            while not list(store.glob(f".upload-{image['id']}-*")):
                assert time.monotonic() < deadline, "the upload did not start"
                time.sleep(0.02)
            c.process.kill()  # the crash, mid-upload
            c.process.wait(timeout=10)
    finally:
        c.stop()
    assert list(store.glob(f".upload-{image['id']}-*"))  # what the crash left
    c = start_labs_up(data_dir, env)
    try:
        shown = c.openstack_json("image", "show", image["id"])
        assert shown["status"] == "queued" and shown.get("size") is None
        assert not [p for p in store.iterdir() if image["id"] in p.name]
        # its reservation is given back, and it takes data again
        c.openstack("image", "set", "--disk-format", "raw", "--container-format", "bare",
                    image["id"])
        token = c.openstack_json("token", "issue")["id"]
        reply = httpx.put(f"{c.url}/image/v2/images/{image['id']}/file", content=b"y" * 100,
                          headers={"X-Auth-Token": token,
                                   "Content-Type": "application/octet-stream"}, timeout=30)
        assert reply.status_code == 204, reply.text
    finally:
        c.stop()
    # nothing of the cloud stays on the host (the stopped cloud made no networks)
    assert not (BRIDGE_STATE / env["LABS_AGENT_NETWORK_PREFIX"] / "owner.json").exists()


def test_import_through_the_cli(labs_cloud: RunningCloud, files: dict[str, Path]) -> None:
    """`image create --import`: stage, glance-direct import, a task; and what the CLI asks
    of the import and store discovery."""
    c = labs_cloud
    image = c.openstack_json("image", "create", "--import", "--file", str(files["qcow2"]),
                             "--disk-format", "qcow2", "--container-format", "bare",
                             "cli-imported")
    deadline = time.monotonic() + 60
    while image["status"] != "active" and time.monotonic() < deadline:
        time.sleep(0.5)
        image = c.openstack_json("image", "show", image["id"])
    assert image["status"] == "active" and image["virtual_size"] == 64 * 2**20
    assert image["checksum"] == hashlib.md5(files["qcow2"].read_bytes(),
                                            usedforsecurity=False).hexdigest()
    tasks = c.openstack_json("image", "task", "list")
    assert "success" in {t["Status"] for t in tasks}
    task = c.openstack_json("image", "task", "show", tasks[0]["ID"])
    assert task["type"] == "api_image_import"
    assert [s["ID"] for s in c.openstack_json("image", "stores", "list")] == ["local"]
    # copy-image needs a second store: the CLI asks which methods there are, and stops
    queued = c.openstack_json("image", "create", "--disk-format", "raw", "--container-format",
                              "bare", "cli-queued")
    refused = c.openstack("image", "import", queued["id"], "--method", "copy-image",
                          "--store", "local", check=False)
    assert refused.returncode != 0 and "copy-image" in refused.stderr


def test_list_filters_through_the_cli_and_sdk(labs_cloud: RunningCloud, sdk: Connection,
                                              files: dict[str, Path]) -> None:
    c = labs_cloud
    for kind in ("raw", "qcow2"):
        c.openstack("image", "create", "--file", str(files[kind]), "--disk-format", kind,
                    "--container-format", "bare", "--property", f"flavour={kind}",
                    f"filtered-{kind}")
    for kind in ("raw", "qcow2"):
        listed = c.openstack_json("image", "list", "--property", f"disk_format={kind}",
                                  "--long")
        assert listed and {i["Disk Format"] for i in listed} == {kind}
        assert {i.disk_format for i in sdk.image.images(disk_format=kind)} == {kind}
        assert [i["Name"] for i in c.openstack_json(
            "image", "list", "--property", f"flavour={kind}")] == [f"filtered-{kind}"]
    assert {i.container_format for i in sdk.image.images(container_format="bare")} == \
        {"bare"}
