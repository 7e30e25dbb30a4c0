"""Shelving a real VM: `labs up` with the qemu driver and qemu's user-mode network (no
root needed). A file written in the guest before `shelve --offload` is there after
`unshelve`, which boots a new qemu from the shelved image; a crash dump (an NMI) reaches
the guest's kernel."""

from __future__ import annotations

from pathlib import Path

from tests.common.bus_helpers import wait_for
from tests.e2e.conftest import RunningCloud
from tests.e2e.test_vms import (  # noqa: F401
    BOOT_SECONDS,
    USER_ENV,
    labs_ssh,
    qemu_of,
    user_cloud_fixture,
)

MOUNT = "mount -t vfat $(findfs LABEL=LABSBOOT) /boot"


def ready(cloud: RunningCloud, name: str) -> None:
    wait_for(lambda: f"LABS-READY {name} " in cloud.openstack(
        "console", "log", "show", name).stdout, BOOT_SECONDS, f"{name} ready", interval=1.0)


def test_shelved_vm_keeps_its_disk_and_takes_a_crash_dump(
        user_cloud: tuple[RunningCloud, Path]) -> None:
    cloud, base = user_cloud
    server = cloud.openstack_json("server", "create", "--image", "labs", "--flavor",
                                  "g1.nano", "--key-name", "k", "--wait", "shelf")
    ready(cloud, "shelf")
    data, key = base / "data", base / "id"
    # the guest runs from its initramfs: its disk is the LABSBOOT partition
    labs_ssh(data, USER_ENV, key, "shelf", f"{MOUNT} && echo kept-across-shelve > /boot/proof "
             "&& umount /boot")
    first_qemu = qemu_of(server["id"])
    assert first_qemu
    # (shelved_offload_time 0 offloads at once; the CLI's --offload, which waits with no
    # end for a status, is tested with the fake driver in test_compute_cli)
    cloud.openstack("server", "shelve", "shelf")
    wait_for(lambda: cloud.openstack_json("server", "show", "shelf")["status"] in (
        "SHELVED_OFFLOADED", "SHELVED", "ACTIVE", "ERROR") and not cloud.openstack_json(
        "server", "show", "shelf")["OS-EXT-STS:task_state"], BOOT_SECONDS, "shelf shelved",
        interval=1.0)
    shown = cloud.openstack_json("server", "show", "shelf")
    assert shown["status"] == "SHELVED_OFFLOADED", shown
    assert qemu_of(server["id"]) == []  # the VM left its host
    cloud.openstack("server", "unshelve", "shelf")
    wait_for(lambda: cloud.openstack_json("server", "show", "shelf")["status"] == "ACTIVE",
             BOOT_SECONDS, "shelf ACTIVE again", interval=1.0)
    ready(cloud, "shelf")
    assert labs_ssh(data, USER_ENV, key, "shelf", f"{MOUNT} && cat /boot/proof && umount /boot"
                    ).strip() == "kept-across-shelve"
    assert "shelf-shelved" not in cloud.openstack("image", "list").stdout
    cloud.openstack("--os-compute-api-version", "2.17", "server", "dump", "create", "shelf")
    wait_for(lambda: "NMI" in cloud.openstack("console", "log", "show", "shelf").stdout,
             60, "the guest's kernel saw the NMI", interval=1.0)
    cloud.openstack("server", "delete", "--wait", "shelf")
    assert qemu_of(server["id"]) == []
