"""Real qemu: a server resized to another host boots there with the new vcpus, memory
and disk and keeps its disk's contents (confirmed: the source keeps nothing); resized
again and reverted, it runs on its host as before. Two agents with a qemu driver each,
in one process, as `labs agent` runs them on two machines: the disk goes over NBD."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labs.compute.config import ComputeOptions
from labs.compute.virt.qemu import QemuDriver
from labs.network.agent.host import HostNetworking
from labs.wiring.agent import agent_on
from tests.compute.conftest import Plane, make_plane
from tests.compute.qemu_helpers import kill_leftovers, labs_image, make_driver
from tests.conftest import Cloud
from tests.fuzzing import mariadb_only  # noqa: F401 -- real VMs on one engine: MariaDB

HOSTS = ("qemu-a", "qemu-b")
FLAVORS = {"q1": (1, 128, 1), "q2": (2, 256, 2), "q3": (1, 192, 2)}  # vcpus, MiB, GiB
SETTLE = 180.0
MARK_SECTOR = 2_000_000  # near the end of a 1 GiB disk


@pytest.fixture
def qemu_plane(cloud: Cloud, tmp_path: Path) -> Iterator[tuple[Plane, dict[str, QemuDriver]]]:
    image = str(labs_image())
    drivers = {host: make_driver(tmp_path / host) for host in HOSTS}
    options = ComputeOptions(heartbeat_seconds=1.0, service_down_seconds=30.0,
                             allow_resize_to_same_host=False)
    try:
        for plane in make_plane(cloud, tmp_path, hosts=(), options=options):
            for host, driver in drivers.items():
                bus = plane._bus(f"compute.{host}")
                agent = agent_on(bus, host, "nova", driver, heartbeat_seconds=1.0, workers=4,
                                 network=HostNetworking(None), image_files=lambda _: image)
                bus.start()
                agent.start()
                plane.agents[host] = agent
            for name, (vcpus, ram, disk) in FLAVORS.items():
                plane.ok("POST", "/flavors", "admin", json={"flavor": {
                    "name": name, "id": name, "vcpus": vcpus, "ram": ram, "disk": disk}})
            try:
                yield plane, drivers
            finally:
                for driver in drivers.values():
                    for info in driver.list_instances():
                        driver.destroy(info.id)
    finally:
        for host in HOSTS:
            kill_leftovers(tmp_path / host)
            for pid_file in (tmp_path / host).glob("moving/*/nbd.pid"):
                with contextlib.suppress(OSError, ValueError):  # an export never read
                    os.kill(int(pid_file.read_text()), signal.SIGTERM)


def ssh(key: Path, driver: QemuDriver, server_id: str, command: str) -> str:
    host, port = driver.ssh_address(server_id)
    cmd = ["ssh", "-i", str(key), "-p", str(port), "-o", "BatchMode=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", f"root@{host}", command]
    deadline = time.monotonic() + SETTLE
    while True:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode == 0:
            return done.stdout
        if time.monotonic() > deadline:
            pytest.fail(f"ssh {host}:{port} {command!r}: {done.stderr}\n"
                        f"{driver.console_output(server_id, 30)}")
        time.sleep(1)


def mark(key: Path, driver: QemuDriver, server_id: str, text: str) -> None:
    """Write `text` on the guest's disk (its root filesystem is an initramfs: straight
    onto the disk, past what the image uses)."""
    ssh(key, driver, server_id, f"echo {text} | dd of=/dev/vda bs=512 seek={MARK_SECTOR} "
        "conv=notrunc 2>/dev/null && sync")


def guest_sizes(key: Path, driver: QemuDriver, server_id: str) -> tuple[int, int, int, str]:
    """(vcpus, MemTotal in MiB, disk in GiB, the mark) as the guest sees them."""
    out = ssh(key, driver, server_id,
              "nproc; awk '/MemTotal/ {print $2}' /proc/meminfo; cat /sys/block/vda/size; "
              f"dd if=/dev/vda bs=512 skip={MARK_SECTOR} count=1 2>/dev/null | head -1")
    vcpus, mem_kb, sectors, marker = out.split("\n")[:4]
    return int(vcpus), int(mem_kb) // 1024, int(sectors) * 512 >> 30, marker


def settled(plane: Plane, server_id: str, status: str) -> dict[str, Any]:
    return plane.wait(server_id, status, timeout=SETTLE)


def test_resize_to_another_host_confirm_then_revert(
        qemu_plane: tuple[Plane, dict[str, QemuDriver]], tmp_path: Path) -> None:
    plane, drivers = qemu_plane
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True, timeout=60)
    plane.ok("POST", "/os-keypairs", json={"keypair": {
        "name": "k", "public_key": key.with_suffix(".pub").read_text()}})
    sid = plane.create(name="mover", flavorRef="q1", key_name="k", wait=None)["id"]
    settled(plane, sid, "ACTIVE")
    first = plane.show(sid, "admin")["OS-EXT-SRV-ATTR:host"]
    other = next(h for h in HOSTS if h != first)
    mark(key, drivers[first], sid, "kept-across-hosts")
    vcpus, mem, disk, marker = guest_sizes(key, drivers[first], sid)
    assert (vcpus, disk, marker) == (1, 1, "kept-across-hosts") and mem < 128

    # resize up to the other host, confirm
    assert plane.call("POST", f"/servers/{sid}/action",
                      json={"resize": {"flavorRef": "q2"}}).status_code == 202
    settled(plane, sid, "VERIFY_RESIZE")
    assert plane.show(sid, "admin")["OS-EXT-SRV-ATTR:host"] == other
    vcpus, mem, disk, marker = guest_sizes(key, drivers[other], sid)
    assert (vcpus, disk, marker) == (2, 2, "kept-across-hosts") and 128 < mem <= 256
    assert (tmp_path / first / "moving" / sid / "disk.qcow2").exists()  # kept until confirm
    assert plane.call("POST", f"/servers/{sid}/action",
                      json={"confirmResize": None}).status_code == 204
    settled(plane, sid, "ACTIVE")
    assert not (tmp_path / first / "moving" / sid).exists()
    assert drivers[first].list_instances() == []

    # resize again (back to the first host), then revert: as it was on the other host
    mark(key, drivers[other], sid, "after-confirm")
    assert plane.call("POST", f"/servers/{sid}/action",
                      json={"resize": {"flavorRef": "q3"}}).status_code == 202
    settled(plane, sid, "VERIFY_RESIZE")
    assert plane.show(sid, "admin")["OS-EXT-SRV-ATTR:host"] == first
    vcpus, mem, _, marker = guest_sizes(key, drivers[first], sid)
    assert (vcpus, marker) == (1, "after-confirm") and 128 < mem <= 192
    assert plane.call("POST", f"/servers/{sid}/action",
                      json={"revertResize": None}).status_code == 202
    shown = settled(plane, sid, "ACTIVE")
    assert shown["flavor"]["original_name"] == "q2"
    assert plane.show(sid, "admin")["OS-EXT-SRV-ATTR:host"] == other
    vcpus, mem, disk, marker = guest_sizes(key, drivers[other], sid)
    assert (vcpus, disk, marker) == (2, 2, "after-confirm") and 128 < mem <= 256
    assert drivers[first].list_instances() == []
    assert not (tmp_path / other / "moving" / sid).exists()
