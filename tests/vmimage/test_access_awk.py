"""The access daemon's reading of access.json, under the guest's own busybox awk: the
document the metadata service serves (ProjectAccess.document) becomes passwd, group,
shadow, keys and sudoers entries, and whatever does not fit is left out."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from labs.network.agent.metadata.access import AccessAccount, ProjectAccess
from tests.vmimage.test_builder import GUEST, built_image, busybox

__all__ = ["built_image", "busybox"]

BASE = {"passwd": "root:x:0:0:root:/root:/bin/sh\nlabs:x:1000:1000:Labs user:/home/labs:"
                  "/bin/sh\n",
        "group": "root:x:0:\ntty:x:5:\nlabs:x:1000:\n",
        "shadow": "root:*:19000:0:99999:7:::\nlabs:*:19000:0:99999:7:::\n"}
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx4 alice@laptop"
SUDO = "Defaults:%project-demo !authenticate\n%project-demo ALL=(ALL:ALL) ALL\n# a \\ b\n"


def apply(busybox: Path, tmp_path: Path, doc: Any) -> tuple[int, dict[str, str], str]:
    """(exit status, the files written by name, the warnings)."""
    base, out = tmp_path / "base", tmp_path / "out"
    base.mkdir(parents=True)
    (out / "keys").mkdir(parents=True)
    for name, text in BASE.items():
        (base / name).write_text(text)
    shells = tmp_path / "shells"
    shells.write_text("/bin/sh\n/bin/ash\n")
    flat = subprocess.run([str(busybox), "awk", "-v", "escape=1", "-f",
                           str(GUEST / "json.awk")], input=json.dumps(doc).encode(),
                          capture_output=True, check=True, timeout=30).stdout
    done = subprocess.run([str(busybox), "awk", "-F", "\t", "-v", f"base={base}", "-v",
                           f"out={out}", "-v", f"shells_file={shells}", "-f",
                           str(GUEST / "access.awk")], input=flat, capture_output=True,
                          timeout=30, check=False)
    files = {str(p.relative_to(out)): p.read_text() for p in out.rglob("*") if p.is_file()}
    return done.returncode, files, done.stderr.decode()


def test_the_document_becomes_the_accounts(busybox: Path, tmp_path: Path) -> None:
    access = ProjectAccess("p-1", "demo", 50001, (
        AccessAccount("alice", 2001, 2001, (KEY,)),
        AccessAccount("bob", 2002, 500, (KEY, "ssh-rsa AAAAB3 bob")),
        AccessAccount("carol", 2003, 500, login_shell="/bin/ash")), SUDO)
    status, files, warnings = apply(busybox, tmp_path, access.document())
    assert (status, warnings) == (0, "")
    assert files["passwd"] == BASE["passwd"] + (
        "alice:x:2001:2001:alice:/home/alice:/bin/sh\n"
        "bob:x:2002:500:bob:/home/bob:/bin/sh\n"
        "carol:x:2003:500:carol:/home/carol:/bin/ash\n")
    # gid 500 is shared: no group of bob's or carol's; the project's has everybody.
    assert files["group"] == BASE["group"] + (
        "alice:x:2001:\nproject-demo:x:50001:alice,bob,carol\n")
    assert files["shadow"] == BASE["shadow"] + "".join(
        f"{n}:*:19000:0:99999:7:::\n" for n in ("alice", "bob", "carol"))
    assert files["accounts"] == ("alice 2001 2001 /home/alice\nbob 2002 500 /home/bob\n"
                                 "carol 2003 500 /home/carol\n")
    assert files["keys/alice"] == KEY + "\n"
    assert files["keys/bob"] == KEY + "\nssh-rsa AAAAB3 bob\n"
    assert files["keys/carol"] == ""
    assert files["sudoers"] == SUDO
    assert files["serial"] == access.document()["serial"] + "\n"


def test_what_does_not_fit_is_left_out(busybox: Path, tmp_path: Path) -> None:
    doc = ProjectAccess("p-1", "demo", 50001, (
        AccessAccount("alice", 2001, 2001, (KEY,)),)).document()
    doc["accounts"] += [
        {"shell_name": "labs", "uid": 2005, "gid": 2005, "ssh_keys": [KEY]},
        {"shell_name": "mallory", "uid": 0, "gid": 0, "ssh_keys": [KEY]},
        {"shell_name": "eve", "uid": 1000, "gid": 1000, "ssh_keys": [KEY]},
        {"shell_name": "../etc", "uid": 2006, "gid": 2006},
        {"shell_name": "x:0:0", "uid": 2007, "gid": 2007},
        {"shell_name": "dave", "uid": 2008, "gid": 2008, "login_shell": "/tmp/evil",
         "ssh_keys": ['command="sh" ssh-ed25519 AAAA x', "ssh-ed25519 AAAA\nssh-rsa B",
                      KEY]}]
    doc["serial"] = "x\"; reboot"
    status, files, warnings = apply(busybox, tmp_path, doc)
    assert status == 0
    assert [line.split(":")[0] for line in files["passwd"].splitlines()] == [
        "root", "labs", "alice", "dave"]
    assert "dave:x:2008:2008:dave:/home/dave:/bin/sh" in files["passwd"]
    assert files["keys/dave"] == KEY + "\n"
    assert sorted(files) == ["accounts", "group", "keys/alice", "keys/dave", "passwd",
                             "serial", "shadow", "sudoers"]
    assert files["serial"] == "\n"
    for name in ("labs", "eve"):
        assert f"account {name} left out (its name or uid is taken)" in warnings
    assert warnings.count("(bad name or id)") == 3
    assert warnings.count("a key of dave left out") == 2


def test_an_unusable_document_changes_nothing(busybox: Path, tmp_path: Path) -> None:
    good = ProjectAccess("p-1", "demo", 50001).document()
    for i, bad in enumerate([{}, {**good, "version": 2},
                             {**good, "project": {"group": {"name": "wheel", "gid": 5}}},
                             {**good, "project": {"group": {"name": "project-x", "gid": 5}}},
                             {**good, "project": {"group": {"name": "project-x", "gid": 0}}}]):
        status, _, warnings = apply(busybox, tmp_path / str(i), bad)
        assert status == 1 and "access.json" in warnings, bad


def test_json_awk_keeps_newlines_and_backslashes_escaped_on_request(busybox: Path) -> None:
    text = r'{"s": "a\nb\\c\\n\td", "u": "x\u000ay\u005cz"}'
    assert json.loads(text) == {"s": "a\nb\\c\\n\td", "u": "x\ny\\z"}
    flat = subprocess.run([str(busybox), "awk", "-v", "escape=1", "-f",
                           str(GUEST / "json.awk")], input=text.encode(),
                          capture_output=True, timeout=30, check=True)
    assert flat.stdout.decode() == ".s\ta\\nb\\\\c\\\\n d\n.u\tx\\ny\\\\z\n"


def test_an_account_joins_no_group_of_the_image(busybox: Path, tmp_path: Path) -> None:
    """A gid of the image's groups (tty here; adm, sudo, shadow in a fuller image) as an
    account's primary group would give it that group's rights; an account named as the
    project's group would make two groups of one name."""
    doc = ProjectAccess("p-1", "demo", 50001, (
        AccessAccount("alice", 2001, 2001, (KEY,)),
        AccessAccount("mallory", 2002, 5, (KEY,)),
        AccessAccount("project-demo", 2003, 2003, (KEY,)),
        AccessAccount("trudy", 2004, 1000, (KEY,)))).document()
    status, files, warnings = apply(busybox, tmp_path, doc)
    assert status == 0
    assert [line.split(":")[0] for line in files["passwd"].splitlines()] == [
        "root", "labs", "alice"]
    assert files["group"] == BASE["group"] + "alice:x:2001:\nproject-demo:x:50001:alice\n"
    assert sorted(files) == ["accounts", "group", "keys/alice", "passwd", "serial", "shadow",
                             "sudoers"]
    assert warnings.count("left out (its gid or name is a group's)") == 3
