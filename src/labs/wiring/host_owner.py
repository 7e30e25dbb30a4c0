"""Which cloud owns the host state of a network prefix.

The bridge driver's records and kernel objects (under ``/run/labs/network/<prefix>``)
outlive the process that made them, so that a restarted cloud adopts its networks. A
second cloud (another data directory) on the same prefix would adopt them too and then
collide with networks that are not its own. ``owner.json`` beside the records names the
cloud that made them (its data directory, absolute) and the process that last claimed
them; a cloud claims the state at start and refuses state another cloud left.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from labs.common.config import ConfigError

OWNER_FILE = "owner.json"


@dataclass(frozen=True)
class Owner:
    """The cloud that owns a prefix's host state: its data directory and the pid of the
    process (``labs up`` or ``labs agent``) that last claimed it."""

    data_dir: str
    pid: int

    def running(self) -> bool:
        """Whether the claiming process still runs (a recycled pid of another program
        does not count: its command line must be a Labs one)."""
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return False
        return b"labs" in cmdline


class HostStateTaken(ConfigError):
    """The prefix's host state belongs to another cloud."""

    def __init__(self, prefix: str, owner: Owner, running: bool) -> None:
        self.owner, self.prefix = owner, prefix
        if running:
            what = (f"are in use by the cloud of {owner.data_dir} (pid {owner.pid} runs): "
                    "stop it first")
        else:
            what = (f"were left by the cloud of {owner.data_dir}: remove it with "
                    f"`labs down --data-dir {owner.data_dir}`")
        super().__init__(
            f"the host networks of prefix {prefix!r} ({network_dir_hint(prefix)}) {what}; "
            "to run two clouds side by side on this host, give each its own "
            "`[agent] network_prefix`")


def network_dir_hint(prefix: str) -> str:
    return f"/run/labs/network/{prefix}"


def cloud_id(data_dir: Path) -> str:
    """How a cloud is named in owner records: its data directory, absolute."""
    return str(Path(data_dir).resolve())


def read_owner(state_dir: Path) -> Owner | None:
    """The owner recorded in `state_dir`; None when there is no (readable) record."""
    try:
        data = json.loads((state_dir / OWNER_FILE).read_text())
        return Owner(str(data["data_dir"]), int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def has_records(state_dir: Path) -> bool:
    """Whether `state_dir` holds anything besides the owner record (networks, dnsmasq
    files): state a cloud made on the host."""
    try:
        return any(p.name != OWNER_FILE for p in state_dir.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return False


def foreign_owner(state_dir: Path, data_dir: Path) -> Owner | None:
    """The other cloud whose state in `state_dir` stands in the way of the cloud of
    `data_dir`: one that left records there, or runs. None when the state is this
    cloud's, nobody's, or an owner's who left nothing and has stopped."""
    owner = read_owner(state_dir)
    if owner is None or owner.data_dir == cloud_id(data_dir):
        return None
    if owner.running() or has_records(state_dir):
        return owner
    return None


def check_free(state_dir: Path, prefix: str, data_dir: Path) -> None:
    """HostStateTaken if another cloud owns the prefix's host state."""
    owner = foreign_owner(state_dir, data_dir)
    if owner is not None:
        raise HostStateTaken(prefix, owner, owner.running())


def claim(state_dir: Path, prefix: str, data_dir: Path, pid: int | None = None) -> None:
    """Record the cloud of `data_dir` (process `pid`, default this one) as the owner of
    the prefix's host state; HostStateTaken if another cloud owns it."""
    check_free(state_dir, prefix, data_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o755)  # dnsmasq's unprivileged user reads its files below
    record = {"data_dir": cloud_id(data_dir), "pid": os.getpid() if pid is None else pid}
    tmp = state_dir / f".{OWNER_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record, sort_keys=True))
    os.replace(tmp, state_dir / OWNER_FILE)


def release(state_dir: Path, data_dir: Path) -> None:
    """Drop the claim of the cloud of `data_dir` when it made nothing on the host (no
    records besides the owner record): a cloud that ran no VM leaves nothing behind."""
    owner = read_owner(state_dir)
    if owner is None or owner.data_dir != cloud_id(data_dir) or has_records(state_dir):
        return
    (state_dir / OWNER_FILE).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        state_dir.rmdir()
