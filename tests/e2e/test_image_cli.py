"""Images through the unchanged `openstack` CLI and openstacksdk against `labs up`."""

from __future__ import annotations

import hashlib
import io
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.conftest import RunningCloud

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
