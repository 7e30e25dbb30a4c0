"""The NICs of qemu instances: taps in several network namespaces, and NICs attached
to and detached from a running guest.

qemu runs inside the namespace of its first tap NIC (``ip netns exec``) and opens that
tap by name. A tap in another namespace (a second network of the instance) cannot be
opened by name from there: it is opened here, by a short-lived thread that enters the
tap's namespace (setns acts on the calling thread only), opens ``/dev/net/tun`` and
attaches to the tap (TUNSETIFF). The descriptor stays bound to that tap wherever it is
used: qemu inherits it (``-netdev tap,fd=N``) or, for a NIC hot-plugged into a running
guest, receives it over QMP (``getfd``, the descriptor sent alongside) - every hot-plugged
tap goes that way, whatever its namespace.

A NIC with a port id gets stable qemu ids from it (``net-<port>``, ``nic-<port>``), so
that it can be found again to be detached: ``device_del``, a wait for the guest to let
the card go (``DEVICE_DELETED``; a bounded wait), then ``netdev_del``.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labs.compute.virt import qemu_records as records
from labs.compute.virt.base import Nic, VirtError
from labs.compute.virt.qmp import QmpError, QmpSession

log = logging.getLogger("labs.compute.virt.qemu")

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
#: How long a guest may take to let a detached card go (ACPI hot-unplug).
UNPLUG_SECONDS = 30.0


def netdev_id(nic: Nic, index: int) -> str:
    return f"net-{nic.port_id}" if nic.port_id else f"n{index}"


def device_id(nic: Nic) -> str | None:
    return f"nic-{nic.port_id}" if nic.port_id else None


def qemu_namespace(nics: list[Nic] | tuple[Nic, ...]) -> str | None:
    """The namespace qemu runs in: its first tap NIC's (None: the host's)."""
    return next((nic.netns for nic in nics if nic.kind == "tap" and nic.netns), None)


def open_tap(netns: str | None, device: str) -> int:
    """A descriptor attached to the tap `device` of namespace `netns` (None: this
    process's namespace); the caller closes it. VirtError if it cannot be opened."""
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            if netns is not None:
                _enter(netns)
            result["fd"] = _attach(device)
        except (OSError, VirtError) as exc:
            result["error"] = exc

    thread = threading.Thread(target=work, name=f"open-tap-{device}")
    thread.start()
    thread.join()
    if "fd" not in result:
        raise VirtError(f"cannot open tap {device} in namespace {netns}: "
                        f"{result.get('error')}")
    fd: int = result["fd"]
    return fd


def _enter(netns: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(NETNS_DIR / netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into {netns}: {os.strerror(errno)}")
    finally:
        os.close(fd)


def _attach(device: str) -> int:
    """Attach to the existing tap (TUNSETIFF would make a new one of that name)."""
    socket.if_nametoindex(device)  # OSError if this namespace has no such device
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        request = struct.pack("16sH", device.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)
        fcntl.ioctl(fd, TUNSETIFF, request)
    except OSError:
        os.close(fd)
        raise
    return fd


def hot_plug(qmp_path: Path, nic: Nic, mac: str, timeout: float = 10.0) -> None:
    """Add the NIC to the running guest of the QMP socket `qmp_path`."""
    if nic.port_id is None:
        raise VirtError("a hot-plugged NIC needs its port's id")
    netdev = netdev_id(nic, 0)
    with QmpSession(qmp_path, timeout) as session:
        if nic.kind == "tap":
            assert nic.tap is not None
            fd = open_tap(nic.netns, nic.tap)
            try:
                session.send_fd("getfd", {"fdname": netdev}, fd)
            finally:
                os.close(fd)
            session.execute("netdev_add", {"type": "tap", "id": netdev, "fd": netdev})
        else:
            session.execute("netdev_add", {"type": "user", "id": netdev,
                                           "restrict": True})
        try:
            session.execute("device_add", {"driver": "virtio-net-pci", "id": device_id(nic),
                                           "netdev": netdev, "mac": mac, "romfile": ""})
        except QmpError:
            session.execute("netdev_del", {"id": netdev})
            raise


def hot_unplug(qmp_path: Path, nic: Nic, index: int, timeout: float = 10.0,
               unplug_seconds: float = UNPLUG_SECONDS) -> None:
    """Take the NIC from the running guest: the card (once the guest let it go, within
    `unplug_seconds`), then its backend."""
    device = device_id(nic)
    if device is None:
        raise VirtError("this NIC was started without an id: restart the instance to "
                        "detach it")
    with QmpSession(qmp_path, timeout) as session:
        if _has_device(session, device):
            session.execute("device_del", {"id": device})
            deadline = time.monotonic() + unplug_seconds
            while _has_device(session, device):
                if time.monotonic() > deadline:
                    raise VirtError(f"the guest did not release NIC {device} within "
                                    f"{unplug_seconds:.0f} s")
                time.sleep(0.2)
        try:
            session.execute("netdev_del", {"id": netdev_id(nic, index)})
        except QmpError as exc:
            if "not found" not in str(exc).lower():
                raise


def _has_device(session: QmpSession, device: str) -> bool:
    try:
        session.execute("qom-get", {"path": f"/machine/peripheral/{device}",
                                    "property": "type"})
    except QmpError:
        return False
    return True


def attach(workdir: Path, nic: Nic, qmp_lock: threading.Lock,
           running: Callable[[], bool]) -> None:
    """Record one more NIC of the instance in `workdir`, hot-plugged when its qemu
    runs (under `qmp_lock`); one it has already is left as it is."""
    added = records.with_nic(records.read_record(workdir), nic)
    if added is None:
        return
    with qmp_lock:
        if running():
            hot_plug(workdir / "qmp.sock", nic, added[1])
        records.write_json(workdir / records.RECORD, added[0])
    log.info("attached the NIC of port %s to instance %s", nic.port_id, workdir.name)


def detach(workdir: Path, port_id: str, qmp_lock: threading.Lock,
           running: Callable[[], bool]) -> None:
    """Take the NIC of `port_id` from the instance in `workdir` (hot-unplugged when its
    qemu runs); one it does not have is fine."""
    dropped = records.without_nic(records.read_record(workdir), port_id)
    if dropped is None:
        return
    with qmp_lock:
        if running():
            hot_unplug(workdir / "qmp.sock", dropped[1], dropped[2])
        records.write_json(workdir / records.RECORD, dropped[0])
    log.info("detached the NIC of port %s from instance %s", port_id, workdir.name)
