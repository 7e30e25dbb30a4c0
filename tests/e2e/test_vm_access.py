"""Who gets into a VM, through the whole cloud: `labs up` with bridge networks, users
made with the unchanged `openstack` CLI, their keys added through the accounts API, one
VM in project P. Members log in as their shell names with their own keys, others are
refused, and every change (a role, a key, a sudo rule, a disabled account) holds in the
running VM within 10 s without touching it."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import RunningCloud
from tests.e2e.test_vms import BOOT_SECONDS, VmCloud, need, vm_cloud_fixture

__all__ = ["vm_cloud_fixture"]
pytestmark = pytest.mark.e2e
CHANGE_SECONDS = 10.0  # what the cloud promises: a change holds in the VM within 10 s


def within(what: str, check: Callable[[], bool], timeout: float = CHANGE_SECONDS) -> float:
    """Seconds until `check()` held (polled every 0.5 s); fails after `timeout`."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.5)


def admin_token(cloud: RunningCloud) -> dict[str, str]:
    return {"X-Auth-Token": cloud.openstack("token", "issue", "-f", "value", "-c",
                                            "id").stdout.strip()}


def login_token(cloud: RunningCloud, name: str, password: str) -> dict[str, str]:
    made = httpx.post(f"{cloud.url}/identity/v3/auth/tokens", timeout=30, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": name, "domain": {"id": "default"}, "password": password}}}}})
    assert made.status_code == 201, made.text
    return {"X-Auth-Token": made.headers["X-Subject-Token"]}


class Person:
    """A user made with `openstack user create`, with a key pair of their own."""

    def __init__(self, vms: VmCloud, name: str, workdir: Path) -> None:
        cloud = vms.cloud
        self.vms = vms
        self.user = cloud.openstack_json("user", "create", "--password", f"{name}-pw", name)
        shown = httpx.get(f"{cloud.url}/identity/v3/users/{self.user['id']}",
                          headers=admin_token(cloud), timeout=10).json()["user"]
        self.shell_name: str = shown["shell_name"]
        self.uid: int = shown["uid_number"]
        self.key = workdir / f"{name}-id"
        subprocess.run([need("ssh-keygen", "openssh-client"), "-q", "-t", "ed25519", "-N", "",
                        "-C", f"{name}@laptop", "-f", str(self.key)], check=True, timeout=30)
        self.public = self.key.with_suffix(".pub").read_text().strip()
        self.headers = login_token(cloud, name, f"{name}-pw")
        self.keys_url = f"{cloud.url}/accounts/v1/accounts/{self.user['id']}/keys"
        added = httpx.post(self.keys_url, headers=self.headers, timeout=10,
                           json={"key": {"public_key": self.public}})
        assert added.status_code == 201, added.text
        self.fingerprint: str = added.json()["key"]["fingerprint"]

    def ssh(self, address: str, command: str) -> subprocess.CompletedProcess[str]:
        """One login (no retries; 255 when refused)."""
        argv = self.vms.ssh_argv(address, command, connect_timeout=5)
        argv[argv.index(str(self.vms.key))] = str(self.key)
        argv[-2] = f"{self.shell_name}@{address}"
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)

    def gets_in(self, address: str) -> bool:
        return self.ssh(address, "true").returncode == 0

    def refused(self, address: str) -> bool:
        return self.ssh(address, "true").returncode == 255


def test_members_get_in_and_changes_hold_within_10_s(vm_cloud: VmCloud, tmp_path: Path) -> None:
    vms, cloud = vm_cloud, vm_cloud.cloud
    tag = uuid.uuid4().hex[:6]
    project = cloud.openstack_json("project", "create", f"acc{tag}")
    label = httpx.get(f"{cloud.url}/identity/v3/projects/{project['id']}",
                      headers=admin_token(cloud), timeout=10).json()["project"]["label"]
    cloud.openstack("role", "add", "--project", project["id"], "--user", "admin", "member")
    alice = Person(vms, f"alice{tag}", tmp_path)
    bob = Person(vms, f"bob{tag}", tmp_path)
    cloud.openstack("role", "add", "--project", project["id"], "--user", alice.user["id"],
                    "member")
    server = cloud.openstack_json("--os-project-name", f"acc{tag}", "server", "create",
                                  "--image", "labs", "--flavor", "g1.nano", "--key-name", "k",
                                  "--wait", f"vm{tag}")
    assert server["status"] == "ACTIVE", server
    address = str(cloud.openstack_json("--os-project-name", f"acc{tag}", "server", "show",
                                       f"vm{tag}")["addresses"]["lan"][0])
    try:
        # root keeps the instance's key pair; alice gets in as herself once the VM is up
        assert vms.ssh(address, "id -u").strip() == "0"
        within("alice logs in", lambda: alice.gets_in(address), BOOT_SECONDS)
        who = alice.ssh(address, "id -u; id -Gn; pwd; stat -c %u .").stdout.split("\n")
        assert who[0] == str(alice.uid) and f"project-{label}" in who[1].split(), who
        assert who[2:4] == [f"/home/{alice.shell_name}", str(alice.uid)], who
        assert bob.refused(address)

        # bob made a member: in; his role removed: out
        cloud.openstack("role", "add", "--project", project["id"], "--user", bob.user["id"],
                        "member")
        within("bob, added, logs in", lambda: bob.gets_in(address))
        cloud.openstack("role", "remove", "--project", project["id"], "--user",
                        bob.user["id"], "member")
        within("bob, removed, is refused", lambda: bob.refused(address))

        # the project's sudo rules: the default lets members be root; without it, not
        assert alice.ssh(address, "sudo -n id -u").stdout.strip() == "0"
        rule = f"{cloud.url}/accounts/v1/projects/{project['id']}/sudo-rules/default-sudo"
        gone = httpx.delete(rule, headers=admin_token(cloud), timeout=10)
        assert gone.status_code == 204, gone.text
        within("sudo refused without the rule",
               lambda: alice.ssh(address, "sudo -n id -u").returncode not in (0, 255))

        # bob back in, then his account disabled: out
        cloud.openstack("role", "add", "--project", project["id"], "--user", bob.user["id"],
                        "member")
        within("bob, added again, logs in", lambda: bob.gets_in(address))
        cloud.openstack("user", "set", "--disable", bob.user["id"])
        within("bob, disabled, is refused", lambda: bob.refused(address))

        # alice's key removed: refused; a key added: in again
        removed = httpx.delete(f"{alice.keys_url}/{alice.fingerprint}",
                               headers=alice.headers, timeout=10)
        assert removed.status_code == 204, removed.text
        within("alice, her key removed, is refused", lambda: alice.refused(address))
        added = httpx.post(alice.keys_url, headers=alice.headers, timeout=10,
                           json={"key": {"public_key": alice.public}})
        assert added.status_code == 201, added.text
        within("alice, her key added, logs in", lambda: alice.gets_in(address))
    finally:
        cloud.openstack("--os-project-name", f"acc{tag}", "server", "delete", "--wait",
                        f"vm{tag}", check=False)


