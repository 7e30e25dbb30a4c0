"""qemu's NICs: a tap in a namespace besides qemu's own is passed as an opened
descriptor (opened inside its namespace), NICs with ports get stable qemu ids, and an
instance's record takes and drops NICs."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from labs.compute.virt import qemu_nics
from labs.compute.virt import qemu_process as process
from labs.compute.virt import qemu_records as records
from labs.compute.virt.base import Nic, VirtError

A = Nic(mac="fa:16:3e:00:00:01", kind="tap", tap="tapa", netns="ns-a", port_id="pa")
B = Nic(mac="fa:16:3e:00:00:02", kind="tap", tap="tapb", netns="ns-b", port_id="pb")


def machine(nics: tuple[Nic, ...], fds: dict[int, int] | None = None) -> process.Machine:
    return process.Machine(instance_id="i1", vcpus=1, memory_mb=128, accel="tcg", boot=None,
                           nics=tuple((nic, None) for nic in nics), tap_fds=fds or {})


def test_taps_of_two_namespaces_one_by_name_one_by_descriptor() -> None:
    cmd = process.command_line("qemu", machine((A, B), {1: 9}))
    assert cmd[:4] == ["ip", "netns", "exec", "ns-a"]
    assert "tap,id=net-pa,ifname=tapa,script=no,downscript=no" in cmd
    assert "tap,id=net-pb,fd=9" in cmd
    assert "virtio-net-pci,netdev=net-pb,romfile=,id=nic-pb,mac=fa:16:3e:00:00:02" in cmd
    with pytest.raises(VirtError, match="must be opened first"):
        process.command_line("qemu", machine((A, B)))
    # NICs without ports keep the names they always had
    old = process.command_line("qemu", machine((Nic(kind="tap", tap="t0", netns="x"),)))
    assert "tap,id=n0,ifname=t0,script=no,downscript=no" in old


def test_a_record_takes_and_drops_nics() -> None:
    record: dict[str, Any] = {"spec": {"id": "i1", "nics": [vars(A)]},
                              "macs": [A.mac], "ports": [None]}
    added = records.with_nic(record, Nic(kind="user", port_id="pc"))
    assert added is not None
    grown, mac = added
    assert mac == records.mac("i1", 1) and grown["macs"] == [A.mac, mac]
    assert [n.port_id for n in records.nics(grown)] == ["pa", "pc"]
    assert records.with_nic(grown, Nic(kind="user", port_id="pc")) is None
    dropped = records.without_nic(grown, "pa")
    assert dropped is not None
    assert dropped[1] == A and dropped[2] == 0
    assert [n.port_id for n in records.nics(dropped[0])] == ["pc"]
    assert dropped[0]["macs"] == [mac] and records.without_nic(dropped[0], "pa") is None


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"labs-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_a_tap_is_opened_inside_its_namespace(namespace: str) -> None:
    subprocess.run(["ip", "netns", "exec", namespace, "ip", "tuntap", "add", "dev", "tapx",
                    "mode", "tap"], check=True)
    fd = qemu_nics.open_tap(namespace, "tapx")
    try:
        assert os.readlink(f"/proc/self/fd/{fd}") == "/dev/net/tun"
        # attached to that tap: it is the namespace's, so the host's has none such
        assert subprocess.run(["ip", "link", "show", "tapx"],
                              capture_output=True).returncode != 0
    finally:
        os.close(fd)
    with pytest.raises(VirtError, match="cannot open tap"):
        qemu_nics.open_tap(namespace, "missing-tap")
