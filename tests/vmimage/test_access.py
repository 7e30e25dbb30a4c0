"""Who gets into a Labs VM, in a real VM: the image's access daemon keeps its accounts,
keys and sudo rules in step with /labs/v1/access.json of the real metadata server, whose
access source the test changes while the VM runs.

The metadata server listens in a network namespace made here (as in
tests/network/test_metadata_access_http.py, which checks the endpoint itself); qemu's
user-mode network sends each of the guest's connections to 169.254.169.254:80 to a
small relay run inside that namespace, which connects from the instance's fixed address,
so the server finds the instance exactly as it finds a VM behind the bridge driver.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from labs.compute.virt.qemu_boot import extract_boot_files
from labs.network.agent.metadata.access import AccessAccount, ProjectAccess, StaticAccessSource
from labs.network.agent.metadata.server import (
    InstanceMetadata,
    MetadataServer,
    StaticMetadataSource,
)
from labs.vmimage.builder import READY_MARKER, BuiltImage
from tests.network.test_metadata_access_http import GATEWAY, Namespace, need_root
from tests.vmimage.test_builder import UUID, Vm, built_image, free_port, need, new_instance

__all__ = ["built_image"]  # the session's image, shared with test_builder

VM_IP = "10.77.0.5"
CHANGE_TIMEOUT = 10.0  # what the cloud promises: a change holds in the VM within 10 s
SUDO = "Defaults:%project-demo !authenticate\n%project-demo ALL=(ALL:ALL) ALL\n"
#: Runs for each guest connection (stdin/stdout): connects from argv[1] to
#: argv[2]:argv[3] and copies both ways until both sides are done (15 s at most idle).
RELAY = """
import os, select, socket, sys
s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=5,
                             source_address=(sys.argv[1], 0))
inputs = [0, s]
while inputs:
    ready = select.select(inputs, [], [], 15)[0]
    if not ready:
        break
    if 0 in ready:
        data = os.read(0, 65536)
        if data:
            s.sendall(data)
        else:
            inputs.remove(0)
            s.shutdown(socket.SHUT_WR)
    if s in ready:
        data = s.recv(65536)
        if not data:
            break
        os.write(1, data)
"""

def keypair(workdir: Path, name: str) -> tuple[Path, str]:
    key = workdir / name
    subprocess.run([need("ssh-keygen", "openssh-client"), "-q", "-t", "ed25519", "-N", "",
                    "-C", name, "-f", str(key)], check=True, timeout=60)
    return key, key.with_suffix(".pub").read_text().strip()


def login(vm: Vm, user: str, key: Path, command: str) -> subprocess.CompletedProcess[str]:
    """One ssh login (no retries): exit 255 when it is refused."""
    return subprocess.run(
        [need("ssh", "openssh-client"), "-i", str(key), "-p", str(vm.port),
         "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
         "-o", "LogLevel=ERROR", f"{user}@127.0.0.1", command],
        capture_output=True, text=True, timeout=60, check=False)


def refused(vm: Vm, user: str, key: Path) -> bool:
    """Whether the VM's ssh server refuses `user` with `key` (and is there to say so)."""
    done = login(vm, user, key, "true")
    return done.returncode == 255 and "Permission denied" in done.stderr


def within(what: str, check: Callable[[], bool], timeout: float = CHANGE_TIMEOUT) -> float:
    """Seconds until `check()` holds, trying every 0.5 s; fails when no try started
    within `timeout` seconds succeeds."""
    started = time.monotonic()
    while True:
        attempt = time.monotonic()
        if check():
            return attempt - started
        if attempt - started > timeout:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.5)


def instance(ip: str, project: str, key: str, instance_uuid: str) -> InstanceMetadata:
    return InstanceMetadata(
        uuid=instance_uuid, name="vm1", hostname="vm1", project_id=project,
        project_name=project.removeprefix("p-"), dns_domain="labs.test",
        network_id="net-access", cidr="10.77.0.0/24", gateway=GATEWAY, fixed_ip=ip,
        mac="fa:16:3e:00:77:05", public_keys={"instance": key})


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    need_root()
    with Namespace(VM_IP) as ns:
        yield ns


def test_members_keys_and_sudo_follow_the_access_source(
        built_image: BuiltImage, namespace: Namespace,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("access")
    machine = new_instance(built_image.path, workdir)
    instance_key = machine.key.with_suffix(".pub").read_text().strip()
    key_a, pub_a = keypair(workdir, "alice-a")
    key_b, pub_b = keypair(workdir, "bob-b")
    alice = AccessAccount("alice", 2001, 2001, (pub_a,))
    bob = AccessAccount("bob", 2002, 2002, (pub_b,))
    access = StaticAccessSource([ProjectAccess("p-demo", "demo", 50001, (alice,), SUDO)])
    instances = StaticMetadataSource([instance(VM_IP, "p-demo", instance_key, UUID)])
    port = free_port()
    boot = extract_boot_files(built_image.path, workdir / "boot")
    relay = workdir / "relay.py"
    relay.write_text(RELAY)
    forward = f"ip netns exec {namespace.name} {sys.executable} {relay} {VM_IP} {GATEWAY} {port}"
    assert "," not in forward
    with MetadataServer(instances, access=access, timeout=5.0) as server:
        server.add_network("net-access", namespace.name, GATEWAY, port)
        assert namespace.get(VM_IP, port, "/labs/v1/keys/alice")[::2] == (200, pub_a + "\n")
        try:
            machine.start("access", "-kernel", str(boot.kernel), "-initrd", str(boot.initrd),
                          "-append", boot.cmdline, "-device", "virtio-rng-pci",
                          config_drive=None,
                          netdev=(",net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-cmd:"
                                  + forward))
            machine.wait_for(rf"^{READY_MARKER} vm1 vm1.demo.labs.test$")
            check_the_vm(machine, access, alice, bob, key_a, key_b, pub_b)
        finally:
            machine.stop()


def check_the_vm(vm: Vm, access: StaticAccessSource, alice: AccessAccount,
                 bob: AccessAccount, key_a: Path, key_b: Path, pub_b: str) -> None:
    # Root and the image's login user keep the instance's key pair.
    assert vm.ssh("root", "id -u") == "0\n"
    assert vm.ssh("labs", "id -un") == "labs\n"
    # alice: her uid, her home made (hers, 0700), the project's group; sudo -n works.
    done = login(vm, "alice", key_a, "id -u; id -Gn; echo $HOME; stat -c '%U %a' $HOME; "
                                      "sudo -n id -u")
    assert done.returncode == 0, done.stderr
    uid, groups, home, owner, sudo_uid = done.stdout.splitlines()
    assert (uid, home, owner, sudo_uid) == ("2001", "/home/alice", "alice 700", "0")
    assert "project-demo" in groups.split()
    # bob is no member: his key is accepted nowhere.
    assert refused(vm, "bob", key_b)
    assert refused(vm, "alice", key_b)

    access.set(ProjectAccess("p-demo", "demo", 50001, (alice, bob), SUDO))
    took = within("bob added logs in", lambda: login(vm, "bob", key_b, "true").returncode == 0)
    print(f"bob in after {took:.1f} s")
    vm.wait_for(r"labs-access: \[[0-9.]+\] \+ bob \(uid 2002\)$", timeout=5)

    access.set(ProjectAccess("p-demo", "demo", 50001, (alice,), SUDO))
    took = within("bob removed is refused", lambda: refused(vm, "bob", key_b))
    print(f"bob out after {took:.1f} s")
    assert vm.ssh("root", "stat -c '%u %a' /home/bob; wc -c </home/bob/.ssh/authorized_keys"
                  ) == "2002 700\n0\n", "the home stays, its keys are emptied"

    # alice's key A removed, key B added: A refused, B works.
    alice_b = AccessAccount("alice", 2001, 2001, (pub_b,))
    access.set(ProjectAccess("p-demo", "demo", 50001, (alice_b,), SUDO))
    took = within("alice's removed key is refused", lambda: refused(vm, "alice", key_a))
    print(f"key A out after {took:.1f} s")
    assert login(vm, "alice", key_b, "id -u").stdout == "2001\n"

    # The sudo rule dropped: sudo -n refuses.
    access.set(ProjectAccess("p-demo", "demo", 50001, (alice_b,), ""))
    took = within("sudo without the rule is refused",
                  lambda: login(vm, "alice", key_b, "sudo -n id -u").returncode not in (0, 255))
    print(f"sudo refused after {took:.1f} s")

    # alice owns her home: links she plants at the names where the daemon moves a foreign
    # ~/.ssh aside lead it nowhere, and her keys come back in a ~/.ssh of root's.
    plant = ("t=$(date +%s); for i in $(seq 0 90); do ln -s /etc ~/.ssh.moved.$((t + i)); "
             "done; mv ~/.ssh ~/old-ssh && ln -s /etc ~/.ssh")
    done = login(vm, "alice", key_b, plant)
    assert done.returncode == 0, done.stderr
    access.set(ProjectAccess("p-demo", "demo", 50001, (alice_b,), SUDO))
    within("alice's keys are back", lambda: login(
        vm, "alice", key_b, "test -d ~/.ssh && test ! -L ~/.ssh").returncode == 0)
    assert vm.ssh("root", "{ [ -e /etc/.ssh ] || [ -L /etc/.ssh ]; } && echo moved "
                          "|| echo clean") == "clean\n"
