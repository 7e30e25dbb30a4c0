"""The qemu driver with real guests: what the shared contract cannot see.

One instance boots the Labs image for the module (with an ssh key, user data and a
project and DNS domain for its name); tests log in to it over the forwarded loopback port,
power-cycle it, and hand it to a second driver object as a restarted agent would.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labs.compute.virt.base import InstanceNotFound, InstanceSpec, PowerState, SpawnError
from labs.compute.virt.qemu import QemuDriver
from labs.vmimage.builder import READY_MARKER
from tests.compute.qemu_helpers import (
    kill_leftovers,
    labs_image,
    make_driver,
    qemu_processes,
)

BOOT_TIMEOUT = 120.0
USER_DATA = "#!/bin/sh\necho user-data-says-hello from $(hostname)\n"


@dataclass
class Guest:
    driver: QemuDriver
    spec: InstanceSpec
    key: Path
    state_dir: Path

    @property
    def fqdn(self) -> str:
        return f"{self.spec.hostname}.{self.spec.project_name}.{self.spec.dns_domain}"

    def markers(self) -> list[str]:
        console = self.driver.console_output(self.spec.id)
        return re.findall(rf"^{READY_MARKER} .*$", console, re.MULTILINE)

    def wait_ready(self, count: int) -> None:
        """Wait for the `count`th ready marker: the guest booted that many times."""
        deadline = time.monotonic() + BOOT_TIMEOUT
        while len(self.markers()) < count:
            assert self.driver.power_state(self.spec.id) is PowerState.RUNNING
            if time.monotonic() > deadline:
                pytest.fail(f"boot {count} not ready within {BOOT_TIMEOUT:.0f} s:\n"
                            f"{self.driver.console_output(self.spec.id, 40)}")
            time.sleep(0.2)

    def ssh(self, command: str, user: str = "labs", tries: int = 15,
            driver: QemuDriver | None = None) -> str:
        host, port = (driver or self.driver).ssh_address(self.spec.id)
        cmd = ["ssh", "-i", str(self.key), "-p", str(port), "-o", "BatchMode=yes",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", f"{user}@{host}", command]
        for attempt in range(tries):
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                                  check=False)
            if done.returncode == 0:
                return done.stdout
            if attempt == tries - 1:
                pytest.fail(f"ssh {user}@{host}:{port} {command!r}: exit {done.returncode}: "
                            f"{done.stderr}")
            time.sleep(1)
        raise AssertionError("unreachable")

    def uptime(self) -> float:
        return float(self.ssh("cat /proc/uptime").split()[0])

    def boot_id(self) -> str:
        return self.ssh("cat /proc/sys/kernel/random/boot_id").strip()


def _spec(**overrides: object) -> InstanceSpec:
    uid = str(uuid.uuid4())
    values: dict[str, object] = {
        "id": uid, "name": f"vm-{uid[:8]}", "hostname": f"vm-{uid[:8]}", "project_id": "p1",
        "vcpus": 1, "memory_mb": 128, "disk_gb": 1, "image_id": "labs-image",
        "image_path": str(labs_image())}
    values.update(overrides)
    return InstanceSpec(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guest]:
    workdir = tmp_path_factory.mktemp("qemu-guest")
    key = workdir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "labs-test", "-f",
                    str(key)], check=True, timeout=60)
    state_dir = workdir / "state"
    driver = make_driver(state_dir)
    spec = _spec(name="web-1", hostname="web-1", project_name="bots", dns_domain="labs.test",
                 key_data=key.with_suffix(".pub").read_text(),
                 user_data=base64.b64encode(USER_DATA.encode()).decode(),
                 metadata={"role": "web"})
    try:
        started = time.monotonic()
        driver.spawn(spec)
        machine = Guest(driver, spec, key, state_dir)
        machine.wait_ready(1)
        print(f"{READY_MARKER} {time.monotonic() - started:.1f} s after spawn")
        yield machine
        for info in machine.driver.list_instances():
            machine.driver.destroy(info.id)
    finally:
        kill_leftovers(state_dir)


def test_console_shows_the_ready_marker_with_the_fqdn(guest: Guest) -> None:
    assert guest.markers() == [f"{READY_MARKER} web-1 web-1.bots.labs.test"]


def test_ssh_into_the_forwarded_port(guest: Guest) -> None:
    host, port = guest.driver.ssh_address(guest.spec.id)
    assert host == "127.0.0.1" and port > 0
    assert guest.ssh("hostname") == "web-1\n"
    assert f"FQDN='{guest.fqdn}'" in guest.ssh("cat /etc/labs/instance", user="root")


def test_user_data_ran(guest: Guest) -> None:
    assert guest.ssh("cat /var/lib/labs/user-data", user="root") == USER_DATA
    deadline = time.monotonic() + 60
    while "user-data-says-hello from web-1" not in guest.driver.console_output(guest.spec.id):
        assert time.monotonic() < deadline, "the user data never ran"
        time.sleep(0.2)


@pytest.mark.parametrize("hard", [True, False], ids=["hard", "soft"])
def test_reboot_power_cycles_the_guest(guest: Guest, hard: bool) -> None:
    if not hard:  # the power button works once acpid runs
        assert guest.ssh("i=0; until pidof acpid || [ $i -ge 100 ]; do sleep 0.1; "
                         "i=$((i+1)); done", user="root").strip(), "acpid is not running"
    boots, boot_id = len(guest.markers()), guest.boot_id()
    pid = int((guest.state_dir / "instances" / guest.spec.id / "pid").read_text())
    started = time.monotonic()
    guest.driver.reboot(guest.spec.id, hard=hard)
    assert guest.driver.power_state(guest.spec.id) is PowerState.RUNNING
    guest.wait_ready(boots + 1)
    assert guest.boot_id() != boot_id
    assert guest.uptime() < time.monotonic() - started + 1
    after_pid = int((guest.state_dir / "instances" / guest.spec.id / "pid").read_text())
    # hard: the same qemu resets; soft: the guest shut down and a new qemu started it
    assert (after_pid == pid) is hard


def test_stop_and_start_power_cycle_the_guest(guest: Guest) -> None:
    boots, boot_id = len(guest.markers()), guest.boot_id()
    started = time.monotonic()
    guest.driver.power_off(guest.spec.id, timeout=60)
    assert guest.driver.power_state(guest.spec.id) is PowerState.SHUTDOWN
    assert qemu_processes(f"instance-{guest.spec.id}") == []
    guest.driver.power_on(guest.spec.id)
    assert guest.driver.power_state(guest.spec.id) is PowerState.RUNNING
    guest.wait_ready(boots + 1)
    assert guest.boot_id() != boot_id
    assert guest.uptime() < time.monotonic() - started + 1
    assert guest.ssh("hostname") == "web-1\n"


def test_a_new_driver_adopts_running_and_killed_instances(guest: Guest) -> None:
    """As after an agent restart: the VMs kept running, one was killed meanwhile."""
    victim = _spec()
    guest.driver.spawn(victim)
    victim_pid = int((guest.state_dir / "instances" / victim.id / "pid").read_text())
    guest.driver.close()  # "the agent is down"
    os.kill(victim_pid, signal.SIGKILL)

    adopter = make_driver(guest.state_dir)
    deadline = time.monotonic() + 30
    while adopter.power_state(victim.id) is not PowerState.SHUTDOWN:
        assert time.monotonic() < deadline, "the killed VM still shows as running"
        time.sleep(0.1)
    states = {info.id: info.power_state for info in adopter.list_instances()}
    assert states == {guest.spec.id: PowerState.RUNNING, victim.id: PowerState.SHUTDOWN}
    assert guest.ssh("hostname", driver=adopter) == "web-1\n"
    adopter.power_on(victim.id)
    assert adopter.power_state(victim.id) is PowerState.RUNNING
    adopter.destroy(victim.id)
    guest.driver = adopter  # the new driver carries on


def test_snapshot_of_a_running_guest_is_a_standalone_qcow2(guest: Guest, tmp_path: Path) -> None:
    target = tmp_path / "snap.qcow2"
    assert guest.driver.snapshot(guest.spec.id, target) == "qcow2"
    info = subprocess.run(["qemu-img", "info", str(target)], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    assert "file format: qcow2" in info and "backing file" not in info
    assert guest.ssh("hostname") == "web-1\n"  # it runs on
    assert [p.name for p in tmp_path.iterdir()] == ["snap.qcow2"]


def test_destroy_leaves_no_process_and_no_files(guest: Guest) -> None:
    instance_dir = guest.state_dir / "instances" / guest.spec.id
    assert qemu_processes(f"instance-{guest.spec.id}")
    guest.driver.destroy(guest.spec.id)
    assert qemu_processes(f"instance-{guest.spec.id}") == []
    assert not instance_dir.exists()
    assert list((guest.state_dir / "instances").iterdir()) == []
    with pytest.raises(InstanceNotFound):
        guest.driver.power_state(guest.spec.id)
    guest.driver.destroy(guest.spec.id)


def _empty_qcow2(path: Path) -> None:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True,
                   timeout=60)


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(1 << 20)[:-2] + b"\0\0")  # never a boot signature by chance


@pytest.mark.parametrize("make_image", [_empty_qcow2, _random_bytes],
                         ids=["empty-qcow2", "random-bytes"])
def test_a_non_bootable_image_fails_spawn_and_leaves_nothing(tmp_path: Path,
                                                              make_image: object) -> None:
    image = tmp_path / "broken.img"
    make_image(image)  # type: ignore[operator]
    state_dir = tmp_path / "state"
    driver = make_driver(state_dir)
    spec = _spec(image_id=f"broken-{uuid.uuid4()}", image_path=str(image))
    try:
        with pytest.raises(SpawnError, match="not bootable"):
            driver.spawn(spec)
        assert driver.list_instances() == []
        assert list((state_dir / "instances").iterdir()) == []
        assert qemu_processes(f"instance-{spec.id}") == []
        assert not (driver.images.root / spec.image_id).exists()
    finally:
        kill_leftovers(state_dir)


def test_host_resources_report_the_accelerator_and_the_host(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "state", accel="tcg")
    host = driver.host_resources()
    assert host.hypervisor_type == "QEMU"
    assert host.vcpus == os.cpu_count()
    assert host.memory_mb > 64 and host.disk_gb > 0
    version = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                             text=True, check=True, timeout=30).stdout
    major, minor = re.search(r"version (\d+)\.(\d+)", version).groups()  # type: ignore[union-attr]
    assert host.hypervisor_version // 1000 == int(major) * 1000 + int(minor)
    auto = make_driver(tmp_path / "auto", accel="auto").host_resources()
    assert auto.hypervisor_type in ("QEMU", "KVM")


def _host_file(path: Path) -> Path:
    """A file of the host that looks like a bootable disk (as the host's own disk would)."""
    path.write_bytes(b"\0" * 510 + b"\x55\xaa" + b"host secret\n" * 1000)
    return path


def _data_file_qcow2(path: Path) -> None:
    host = _host_file(path.with_name("host-disk"))
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o",
                    f"data_file={host},data_file_raw=on", str(path), "1M"], check=True,
                   timeout=60)
    _host_file(host)  # qemu-img sized it: as it was


def _backing_qcow2(path: Path) -> None:
    host = _host_file(path.with_name("host-disk"))
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(host), "-F", "raw",
                    str(path), "1M"], check=True, timeout=60)


def _vmdk(path: Path) -> None:
    subprocess.run(["qemu-img", "create", "-q", "-f", "vmdk", str(path), "1M"], check=True,
                   timeout=60)


@pytest.mark.parametrize(("make_image", "says"), [
    (_data_file_qcow2, "an external data file"), (_backing_qcow2, "a backing file"),
    (_vmdk, "is vmdk: the qemu driver boots qcow2 or raw")],
    ids=["data-file", "backing-file", "vmdk"])
def test_an_image_planted_in_the_store_that_reads_host_files_fails_spawn(
        tmp_path: Path, make_image: object, says: str) -> None:
    """Bytes that reached the image store without the upload's checks are inspected
    before qemu-img or qemu open them."""
    store = tmp_path / "image-store"
    store.mkdir()
    image_id = f"planted-{uuid.uuid4()}"
    make_image(store / image_id)  # type: ignore[operator]
    state_dir = tmp_path / "state"
    driver = make_driver(state_dir)
    spec = _spec(image_id=image_id, image_path=str(store / image_id))
    try:
        with pytest.raises(SpawnError, match=says):
            driver.spawn(spec)
        assert driver.list_instances() == []
        assert not (driver.images.root / image_id).exists()
        assert qemu_processes(f"instance-{spec.id}") == []
    finally:
        kill_leftovers(state_dir)


def test_a_cache_entry_made_before_the_checks_is_inspected_again(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    driver = make_driver(state_dir)
    image_id = f"old-{uuid.uuid4()}"
    entry = driver.images.root / image_id
    entry.mkdir(parents=True)
    _data_file_qcow2(entry / "disk")
    (entry / "info.json").write_text(json.dumps(
        {"format_version": 1, "format": "qcow2", "virtual_size": 1 << 20, "boot": None}))
    spec = _spec(image_id=image_id, image_path=None)
    try:
        with pytest.raises(SpawnError, match="an external data file"):
            driver.spawn(spec)
        assert driver.list_instances() == []
    finally:
        kill_leftovers(state_dir)


FLOOD = ("#!/bin/sh\n( i=0; while :; do i=$((i+1)); "
         "echo \"flood $i ................................................\"; "
         "done > /dev/ttyS0 2>&1 ) &\n")


def test_a_guest_flooding_its_console_stays_under_the_cap(tmp_path: Path) -> None:
    """A guest that writes to its serial console without end: the log on disk stays
    within its cap (one file and one rotated), and the last lines show in order."""
    cap = 64 * 1024
    state_dir = tmp_path / "state"
    driver = make_driver(state_dir, console_max_bytes=cap, console_drain_seconds=0.2)
    spec = _spec(user_data=base64.b64encode(FLOOD.encode()).decode())
    workdir = state_dir / "instances" / spec.id
    try:
        driver.spawn(spec)
        deadline = time.monotonic() + BOOT_TIMEOUT
        rotations = 0
        # a rotated log is known by its inode and the time of its rename: the inode
        # alone does not tell them apart, as ext4 gives a freed inode to the next new
        # file, so rotations may take turns between two inode numbers
        seen: set[tuple[int, int]] = set()
        while rotations < 3:
            assert time.monotonic() < deadline, driver.console_output(spec.id, 20)
            previous = workdir / "console.log.1"
            if previous.exists():
                rotated = previous.stat()
                seen.add((rotated.st_ino, rotated.st_ctime_ns))
                rotations = len(seen)
            for name in ("console.log", "console.log.1"):
                if (workdir / name).exists():
                    assert (workdir / name).stat().st_size <= cap
            time.sleep(0.1)
        assert sorted(p.name for p in workdir.glob("console.log*")) == [
            "console.log", "console.log.1"]
        last = driver.console_output(spec.id, 10).splitlines()
        numbers = [int(line.split()[1]) for line in last if line.startswith("flood ")]
        assert len(numbers) >= 8, last
        assert numbers == sorted(set(numbers)), last  # newest last, none twice
        assert len(driver.console_output(spec.id).encode()) <= 2 * cap
    finally:
        driver.destroy(spec.id)
        driver.close()
        kill_leftovers(state_dir)
