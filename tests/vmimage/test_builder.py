"""The Labs VM image: built from Debian packages only, reproducible, and it boots.

The boot tests run the image with plain `qemu-system-x86_64` (software emulation unless
LABS_TEST_ACCEL=kvm), a config drive made here, user-mode networking restricted to the
guest and one port forwarded from 127.0.0.1, and log in with ssh.

The build is cached per machine (LABS_IMAGE_CACHE, default ~/.cache/labs/image-build): the
first run downloads the packages (about 75 MB) and builds, later runs copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from labs.compute.virt.qemu_boot import extract_boot_files
from labs.vmimage.builder import (
    IMAGE_NAME,
    MANIFEST_NAME,
    PACKAGES,
    READY_MARKER,
    BuiltImage,
    ImageBuildError,
    build_image,
)

CACHE = Path(os.environ.get("LABS_IMAGE_CACHE") or Path.home() / ".cache/labs/image-build")
ACCEL = os.environ.get("LABS_TEST_ACCEL", "tcg")
BOOT_TIMEOUT = 120.0
GUEST = Path(__file__).parents[2] / "src" / "labs" / "vmimage" / "guest"
UUID = "3f1c2a9e-5b7d-4c1e-9a0f-6d2b8e4c7a51"
USER_DATA = "#!/bin/sh\necho user-data-says-hello from $(hostname) as $(id -u)\n"


def need(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.fail(f"{program} is needed: apt-get install {package}")
    return path


@pytest.fixture(scope="session")
def built_image(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    try:
        return build_image(tmp_path_factory.mktemp("image"), CACHE)
    except ImageBuildError as exc:
        pytest.fail(f"the image build failed: {exc}")


# --- the build ---------------------------------------------------------------------------

def test_image_is_a_small_qcow2_with_its_manifest(built_image: BuiltImage) -> None:
    assert built_image.path.name == IMAGE_NAME
    assert built_image.manifest_path == built_image.path.with_name(MANIFEST_NAME)
    assert 4 << 20 < built_image.size < 64 << 20, "tens of MB at most"
    assert built_image.path.read_bytes()[:4] == b"QFI\xfb"
    info = json.loads(subprocess.run(
        [need("qemu-img", "qemu-utils"), "info", "--output=json", str(built_image.path)],
        capture_output=True, text=True, check=True, timeout=60).stdout)
    assert info["format"] == "qcow2"
    assert "backing-filename" not in info

    manifest = json.loads(built_image.manifest_path.read_text())
    assert manifest == built_image.manifest
    assert manifest["sha256"] == built_image.sha256
    assert manifest["size"] == built_image.size
    assert manifest["virtual_size"] == info["virtual-size"]
    assert manifest["disk_format"] == "qcow2"
    assert manifest["ready_marker"] == READY_MARKER
    names = [p["name"] for p in manifest["packages"]]
    assert names[0].startswith("linux-image-") and names[0].endswith("-amd64")
    assert names[1:] == list(PACKAGES)
    for package in manifest["packages"]:
        assert package["version"] and len(package["sha256"]) == 64
    assert manifest["kernel"] in names[0]
    for module in ("virtio_net.ko", "virtio_blk.ko", "isofs.ko", "vfat.ko"):
        assert module in manifest["modules"]
    assert "sr_mod.ko" in manifest["late_modules"]


def test_build_is_reproducible(built_image: BuiltImage,
                               tmp_path_factory: pytest.TempPathFactory) -> None:
    again = build_image(tmp_path_factory.mktemp("again"), CACHE, rebuild=True)
    assert not again.from_cache
    assert again.sha256 == built_image.sha256
    assert again.manifest == built_image.manifest


def test_second_build_comes_from_the_cache(built_image: BuiltImage, tmp_path: Path) -> None:
    started = time.monotonic()
    cached = build_image(tmp_path, CACHE)
    assert cached.from_cache
    assert cached.sha256 == built_image.sha256
    assert time.monotonic() - started < 30


@pytest.fixture(scope="module")
def busybox(built_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The guest's busybox (a static binary), from the cached Debian package."""
    deb = next((CACHE / "debs").glob("busybox-static_*.deb"))
    root = tmp_path_factory.mktemp("busybox")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, timeout=60)
    return root / "bin" / "busybox"


def awk(busybox: Path, program: str, text: str, *args: str) -> str:
    return subprocess.run([str(busybox), "awk", *args, "-f", str(GUEST / program)],
                          input=text.encode(), capture_output=True, check=True,
                          timeout=30).stdout.decode()


def test_json_awk_flattens_like_python(busybox: Path) -> None:
    """The guest reads meta_data.json with busybox awk; check the parser against Python's."""
    docs: list[Any] = [
        {"uuid": UUID, "name": "vm1", "public_keys": {"a": "ssh-ed25519 AAAA a@b\n",
                                                    "b.c": "ssh-rsa BBBB"},
         "keys": [{"name": "a", "type": "ssh", "data": "ssh-ed25519 AAAA a@b\n"}],
         "meta": {"project_name": "demo", "dns_domain": "labs.test"}, "launch_index": 0,
         "availability_zone": None, "devices": [], "random_seed": "aGVsbG8="},
        {"s": "quote \" backslash \\ slash / tab \t é 😀 \u0001", "n": [-1.5e3, 0, 12],
         "t": [True, False, None], "nested": {"a": [{"b": {"c": []}}, {}]}, "": "empty"},
        [], "just a string", 42,
    ]
    for doc in docs:
        for indent in (None, 2):
            text = json.dumps(doc, indent=indent, ensure_ascii=indent is None)
            expected = "".join(f"{p}\t{v}\n" for p, v in flatten(doc))
            assert awk(busybox, "json.awk", text) == expected, text
    for bad in ('{"a": 1', '{"a" 1}', '[1, 2', '{"a": tru}', '"open', '{"a": 1} x'):
        done = subprocess.run([str(busybox), "awk", "-f", str(GUEST / "json.awk")],
                              input=bad.encode(), capture_output=True, timeout=30, check=False)
        assert done.returncode != 0, bad


@pytest.mark.parametrize(("meta", "expected"), [
    ({"name": "vm1", "hostname": "vm1",
      "meta": {"project_name": "demo", "dns_domain": "labs.test"}},
     "vm1 vm1.demo.labs.test demo labs.test|demo.labs.test labs.test"),
    ({"name": "Web 1", "meta": {"project_name": "Bots", "dns_domain": "Eqiad.WMFLABS."}},
     "web-1 web-1.bots.eqiad.wmflabs bots eqiad.wmflabs|bots.eqiad.wmflabs eqiad.wmflabs"),
    ({"name": "My Server", "hostname": "my-server.novalocal"},
     "my-server my-server.novalocal  |novalocal"),
    ({"hostname": "db1.example.org", "meta": {"project_name": "demo"}},
     "db1 db1.example.org demo |example.org"),
    ({"hostname": "db1"}, "db1 db1  |"),
    ({}, "labs labs  |"),
    ({"name": "a'b; $(reboot) `x`"}, "a-b----reboot---x a-b----reboot---x  |"),
])
def test_metadata_awk_derives_the_names(busybox: Path, tmp_path: Path, meta: dict[str, Any],
                                        expected: str) -> None:
    """NAME FQDN PROJECT DOMAIN|SEARCH, as the first boot derives them; values are cleaned
    so that the shell that evaluates them sees plain words."""
    keys = tmp_path / "keys"
    meta = {**meta, "uuid": f"{UUID}'; reboot", "public_keys": {"b": "ssh-ed25519 B b",
                                                                "a": " ssh-ed25519 A a\n"},
            "keys": [{"data": "ssh-ed25519 A a"}, {"data": "ssh-rsa C c"}]}
    flat = awk(busybox, "json.awk", json.dumps(meta))
    out = awk(busybox, "metadata.awk", flat, "-F", "\t", "-v", f"keys={keys}")
    words, search = expected.split("|")
    name, fqdn, project, domain = words.split(" ")
    assert out.splitlines() == [
        f"UUID='{UUID}reboot'", f"NAME='{name}'", f"FQDN='{fqdn}'", f"PROJECT='{project}'",
        "PROJECT_ID=''", f"DOMAIN='{domain}'", f"SEARCH='{search}'"]
    assert keys.read_text() == "ssh-ed25519 B b\nssh-ed25519 A a\nssh-rsa C c\n"


def flatten(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from flatten(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from flatten(v, f"{path}[{i}]")
    elif isinstance(value, bool):
        yield path, "true" if value else "false"
    elif isinstance(value, str):
        yield path, re.sub(r"[\x00-\x1f]", " ", value)
    elif value is not None:
        yield path, json.dumps(value)


# --- booting it --------------------------------------------------------------------------

@dataclass
class Vm:
    """One qemu process booting the image; its serial console goes to a file."""
    image: Path
    workdir: Path
    key: Path
    config_drive: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    serial: Path = field(init=False)
    started: float = 0.0

    def start(self, name: str, *extra: str, config_drive: str | None = "media=cdrom",
              netdev: str = "") -> None:
        """Boot the overlay; the config drive is an IDE CD-ROM (as Nova attaches it) unless
        `config_drive` says otherwise (None: none); `netdev`: more user-mode net options."""
        self.serial = self.workdir / f"{name}.console.log"
        self.port = free_port()
        qemu = need("qemu-system-x86_64", "qemu-system-x86")
        cmd = [
            qemu, "-accel", ACCEL, "-m", "256", "-no-reboot", "-display", "none",
            "-monitor", "none", "-serial", f"file:{self.serial}",
            "-qmp", f"unix:{self.workdir / 'qmp.sock'},server=on,wait=off",
            "-drive", f"file={self.workdir / 'disk.qcow2'},if=virtio,format=qcow2",
            # restrict=on: the guest reaches nothing but qemu's DHCP and the forwarded port.
            "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{self.port}-:22{netdev}",
            "-device", "virtio-net-pci,netdev=n0,romfile=", *extra,
        ]
        if config_drive is not None:
            cmd += ["-drive", f"file={self.config_drive},{config_drive},format=raw,readonly=on"]
        self.started = time.monotonic()
        with (self.workdir / f"{name}.qemu.log").open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)

    def console(self) -> str:
        try:
            return self.serial.read_bytes().decode(errors="replace").replace("\r", "")
        except FileNotFoundError:
            return ""

    def wait_for(self, pattern: str, timeout: float = BOOT_TIMEOUT) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.console(), re.MULTILINE)
            if found:
                return found
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"qemu exited ({self.proc.returncode}) before {pattern!r}:\n"
                            f"{self.console()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {pattern!r} on the console within {timeout:.0f} s:\n"
                            f"{self.console()[-3000:]}")
            time.sleep(0.1)

    def ssh(self, user: str, command: str, tries: int = 10) -> str:
        ssh = need("ssh", "openssh-client")
        cmd = [ssh, "-i", str(self.key), "-p", str(self.port), "-o", "BatchMode=yes",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", f"{user}@127.0.0.1", command]
        for attempt in range(tries):
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
            if done.returncode == 0:
                return done.stdout
            if attempt == tries - 1:
                pytest.fail(f"ssh {user}@ {command!r}: exit {done.returncode}: {done.stderr}")
            time.sleep(1)
        raise AssertionError("unreachable")

    def power_button(self) -> None:
        """Press the ACPI power button through QMP."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(self.workdir / "qmp.sock"))
            with s.makefile("rw") as f:
                f.readline()  # the greeting
                for command in ("qmp_capabilities", "system_powerdown"):
                    f.write(json.dumps({"execute": command}) + "\n")
                    f.flush()
                    answer = json.loads(f.readline())
                    while "event" in answer:
                        answer = json.loads(f.readline())
                    assert "return" in answer, (command, answer)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_config_drive(workdir: Path, public_key: str) -> Path:
    """An OpenStack config drive as Nova makes it: iso9660, label config-2."""
    root = workdir / "config-drive"
    latest = root / "openstack" / "latest"
    latest.mkdir(parents=True)
    (latest / "meta_data.json").write_text(json.dumps({
        "uuid": UUID, "name": "vm1", "hostname": "vm1", "project_id": "0123abcd",
        "launch_index": 0, "availability_zone": "nova",
        "public_keys": {"test": public_key}, "keys": [
            {"name": "test", "type": "ssh", "data": public_key}],
        "meta": {"project_name": "demo", "dns_domain": "labs.test"},
    }))
    (latest / "user_data").write_text(USER_DATA)
    iso = workdir / "config-drive.iso"
    subprocess.run([need("xorriso", "xorriso"), "-as", "mkisofs", "-quiet", "-V", "config-2",
                    "-J", "-R", "-o", str(iso), str(root)], check=True, timeout=60,
                   capture_output=True)
    return iso


def new_instance(image: Path, workdir: Path) -> Vm:
    """An ssh key, a config drive and a qcow2 overlay on the image (as the compute driver
    makes them)."""
    key = workdir / "id_ed25519"
    subprocess.run([need("ssh-keygen", "openssh-client"), "-q", "-t", "ed25519", "-N", "",
                    "-C", "labs-test", "-f", str(key)], check=True, timeout=60)
    drive = make_config_drive(workdir, key.with_suffix(".pub").read_text().strip())
    subprocess.run([need("qemu-img", "qemu-utils"), "create", "-q", "-f", "qcow2", "-F",
                    "qcow2", "-b", str(image), str(workdir / "disk.qcow2")], check=True,
                   timeout=60)
    return Vm(image, workdir, key, drive)


@pytest.fixture(scope="module")
def vm(built_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vm]:
    """The image, booting by itself from its disk."""
    machine = new_instance(built_image.path, tmp_path_factory.mktemp("vm"))
    try:
        machine.start("boot1")
        machine.wait_for(rf"^{READY_MARKER} ")
        print(f"{READY_MARKER} after {time.monotonic() - machine.started:.1f} s ({ACCEL})")
        yield machine
    finally:
        machine.stop()


def test_ready_marker_names_the_host(vm: Vm) -> None:
    markers = re.findall(rf"^{READY_MARKER} .*$", vm.console(), re.MULTILINE)
    assert markers == [f"{READY_MARKER} vm1 vm1.demo.labs.test"]


def test_user_data_runs_as_root(vm: Vm) -> None:
    vm.wait_for(r"^user-data: user-data-says-hello from vm1 as 0$", timeout=60)
    vm.wait_for(r"^labs: \[[0-9.]+\] user data exited with status 0$", timeout=60)


def test_ssh_login_user_and_root(vm: Vm) -> None:
    assert vm.ssh("labs", "hostname") == "vm1\n"
    assert vm.ssh("labs", "id -u; echo $HOME") == "1000\n/home/labs\n"
    assert vm.ssh("root", "id -u") == "0\n"
    # No nameserver line: restrict=on gives the guest no DNS server.
    assert vm.ssh("root", "cat /etc/resolv.conf") == "search demo.labs.test labs.test\n"
    assert "\tvm1.demo.labs.test vm1\n" in vm.ssh("root", "cat /etc/hosts")
    assert vm.ssh("root", "cat /var/lib/labs/user-data") == USER_DATA
    instance = vm.ssh("root", "cat /etc/labs/instance")
    assert f"UUID='{UUID}'" in instance and "FQDN='vm1.demo.labs.test'" in instance


def test_second_boot_keeps_host_key_and_skips_user_data(vm: Vm) -> None:
    """Power button, then the same instance boots again from its disk."""
    first = vm.wait_for(r"ssh host key (SHA256:\S+)").group(1)
    # acpid starts once the late drivers (the ACPI button among them) are loaded.
    assert vm.ssh("root", "i=0; until pidof acpid || [ $i -ge 100 ]; do sleep 0.1; "
                          "i=$((i+1)); done").strip(), "acpid is not running"
    vm.power_button()
    assert vm.proc is not None
    vm.proc.wait(timeout=60)
    vm.start("boot2")
    vm.wait_for(rf"^{READY_MARKER} vm1 vm1.demo.labs.test$")
    assert vm.wait_for(r"ssh host key (SHA256:\S+)").group(1) == first
    vm.wait_for(r"user data already ran on this instance")
    assert "user-data-says-hello" not in vm.console()
    assert vm.ssh("labs", "hostname") == "vm1\n"


METADATA_SERVER = """\
import sys
from pathlib import Path
root = Path(sys.argv[1]).resolve()
request = sys.stdin.buffer.readline().decode()
while sys.stdin.buffer.readline().strip():
    pass
path = (request.split() + ["", "/"])[1]
file = (root / path.lstrip("/")).resolve()
if file.is_relative_to(root) and file.is_file():
    body, status = file.read_bytes(), "200 OK"
else:
    body, status = b"not found\\n", "404 Not Found"
sys.stdout.buffer.write(f"HTTP/1.0 {status}\\r\\nContent-Length: {len(body)}\\r\\n\\r\\n".encode())
sys.stdout.buffer.write(body)
"""


def test_direct_kernel_boot_with_the_metadata_service(
        built_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The fast way for the compute driver: the kernel (uncompressed, PVH entry), the
    initramfs and the command line taken out of the image and given to qemu, the image
    still the boot disk; a virtio RNG. No config drive: the metadata service answers at
    169.254.169.254, served by a program qemu runs for each connection (no socket on the
    host)."""
    workdir = tmp_path_factory.mktemp("direct")
    boot = extract_boot_files(built_image.path, workdir / "boot")
    assert boot.kernel.name == "vmlinux"
    assert boot.kernel.read_bytes()[:4] == b"\x7fELF"
    assert boot.cmdline == built_image.manifest["kernel_cmdline"]
    machine = new_instance(built_image.path, workdir)
    server = workdir / "metadata_server.py"
    server.write_text(METADATA_SERVER)
    served = workdir / "config-drive"
    assert "," not in f"{sys.executable}{server}{served}"
    try:
        machine.start("direct", "-kernel", str(boot.kernel), "-initrd", str(boot.initrd),
                      "-append", boot.cmdline, "-device", "virtio-rng-pci", config_drive=None,
                      netdev=(",net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-cmd:"
                              f"{sys.executable} {server} {served}"))
        machine.wait_for(rf"^{READY_MARKER} vm1 vm1.demo.labs.test$")
        print(f"{READY_MARKER} after {time.monotonic() - machine.started:.1f} s "
              f"({ACCEL}, direct kernel boot)")
        assert "metadata from http://169.254.169.254/openstack/latest" in machine.console()
        machine.wait_for(r"^user-data: user-data-says-hello from vm1 as 0$", timeout=60)
        assert machine.ssh("labs", "hostname") == "vm1\n"
    finally:
        machine.stop()
