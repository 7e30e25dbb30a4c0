"""A live migration's streams speak TLS with the move's key (qemu's tls-creds-psk): two
qemu drivers on one machine as two hosts, the destination's relay on loopback. Strangers
at the relay's port, one in plain TCP and one with a wrong key, get nothing, and the move
completes; the keys' directories are gone after it."""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.compute.agent.relays import DISK, MIGRATION, Inbound, Outbound
from labs.compute.virt.base import InstanceSpec, MigrationTarget, PowerState, VirtError
from labs.compute.virt.qemu import QemuDriver
from tests.compute.qemu_helpers import kill_leftovers, labs_image, make_driver


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[tuple[QemuDriver, QemuDriver]]:
    a, b = make_driver(tmp_path / "a"), make_driver(tmp_path / "b")
    try:
        yield a, b
    finally:
        for driver, name in ((a, "a"), (b, "b")):
            for info in driver.list_instances():
                driver.destroy(info.id)
            driver.close()
            kill_leftovers(tmp_path / name)


def spec() -> InstanceSpec:
    uid = str(uuid.uuid4())
    return InstanceSpec(id=uid, name=f"vm-{uid[:8]}", hostname=f"vm-{uid[:8]}",
                        project_id="p" * 32, vcpus=1, memory_mb=128, disk_gb=1,
                        image_id=str(uuid.uuid4()), image_path=str(labs_image()))


def read_all(sock: socket.socket) -> bytes:
    got = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            got += chunk
    return got


def wrong_key_client(qemu_img: str, socket_path: str, export: str, keys: Path) -> int:
    """`qemu-img info` on the NBD export with a key of its own: its exit status."""
    keys.mkdir(mode=0o700)
    (keys / "keys.psk").write_text(f"labs:{secrets.token_hex(32)}\n")
    (keys / "keys.psk").chmod(0o600)
    done = subprocess.run(
        [qemu_img, "info", "--object",
         f"tls-creds-psk,id=t,endpoint=client,username=labs,dir={keys}", "--image-opts",
         f"driver=nbd,server.type=unix,server.path={socket_path},export={export},"
         "tls-creds=t"], capture_output=True, text=True, timeout=60, check=False)
    return done.returncode


def test_a_move_with_a_key_and_strangers_at_the_port(
        hosts: tuple[QemuDriver, QemuDriver], tmp_path: Path) -> None:
    source, dest = hosts
    moved, psk = spec(), secrets.token_hex(32)
    source.spawn(moved)
    target = dest.prepare_incoming(moved, psk)
    keys = dest.instances_dir / moved.id / "migration-tls"
    assert keys.stat().st_mode & 0o777 == 0o700
    assert (keys / "keys.psk").stat().st_mode & 0o777 == 0o600
    routes = {MIGRATION: target.uri.removeprefix("unix:"), DISK: target.nbd_socket}
    with Inbound("127.0.0.1", routes, lifetime=300) as inbound:
        assert isinstance(inbound, Inbound)
        # a stranger in plain TCP: the NBD server wants TLS first; it gets the server's
        # greeting at most, and the connection ends
        with socket.create_connection(inbound.address, timeout=30) as plain:
            plain.sendall(DISK + b"\x00" * 64)
            plain.shutdown(socket.SHUT_WR)
            assert len(read_all(plain)) < 1024
        # a stranger with a wrong key: its handshake fails
        with Outbound(inbound.address, [DISK], lifetime=60) as stranger:
            assert isinstance(stranger, Outbound)
            assert wrong_key_client(source.qemu_img, stranger.paths[DISK],
                                    target.nbd_export, tmp_path / "wrong") != 0
        with Outbound(inbound.address, [MIGRATION, DISK], lifetime=300) as outbound:
            assert isinstance(outbound, Outbound)
            stats = source.live_migrate(moved.id, MigrationTarget(
                uri=f"unix:{outbound.paths[MIGRATION]}", nbd_socket=outbound.paths[DISK],
                nbd_export=target.nbd_export, psk=psk), timeout=300)
    dest.finish_incoming(moved.id)
    assert dest.power_state(moved.id) is PowerState.RUNNING
    assert stats.memory_total > 0 and stats.memory_remaining == 0
    assert not keys.exists() and not (source.instances_dir / moved.id / "migration-tls").exists()
    source.destroy(moved.id)


def test_a_source_with_a_wrong_key_fails_and_its_guest_runs_on(
        hosts: tuple[QemuDriver, QemuDriver]) -> None:
    source, dest = hosts
    moved = spec()
    source.spawn(moved)
    target = dest.prepare_incoming(moved, secrets.token_hex(32))
    routes = {MIGRATION: target.uri.removeprefix("unix:"), DISK: target.nbd_socket}
    with Inbound("127.0.0.1", routes, lifetime=120) as inbound, \
            Outbound(inbound.address, [MIGRATION, DISK], lifetime=120) as outbound:
        assert isinstance(inbound, Inbound) and isinstance(outbound, Outbound)
        with pytest.raises(VirtError):
            source.live_migrate(moved.id, MigrationTarget(
                uri=f"unix:{outbound.paths[MIGRATION]}", nbd_socket=outbound.paths[DISK],
                nbd_export=target.nbd_export, psk=secrets.token_hex(32)), timeout=60)
    assert source.power_state(moved.id) is PowerState.RUNNING
    assert not (source.instances_dir / moved.id / "migration-tls").exists()
    dest.destroy(moved.id)
    # and a later move with the right key goes through (nothing of the failed one left)
    psk = secrets.token_hex(32)
    target = dest.prepare_incoming(moved, psk)
    routes = {MIGRATION: target.uri.removeprefix("unix:"), DISK: target.nbd_socket}
    with Inbound("127.0.0.1", routes, lifetime=300) as inbound, \
            Outbound(inbound.address, [MIGRATION, DISK], lifetime=300) as outbound:
        assert isinstance(inbound, Inbound) and isinstance(outbound, Outbound)
        source.live_migrate(moved.id, MigrationTarget(
            uri=f"unix:{outbound.paths[MIGRATION]}", nbd_socket=outbound.paths[DISK],
            nbd_export=target.nbd_export, psk=psk), timeout=300)
    dest.finish_incoming(moved.id)
    assert dest.power_state(moved.id) is PowerState.RUNNING
