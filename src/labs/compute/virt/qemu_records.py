"""The files of a qemu driver instance, and facts about the host the driver reads.

`instance.json` in each instance directory is the instance's record: the spec it was
spawned with and the MAC addresses and forwarded ports chosen for it, all that is needed
to start it again (power on, or a new driver object adopting it). It is written whole to a
temporary file and renamed into place, so readers never see half of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

from labs.compute.virt.base import InstanceNotFound, Nic, VirtError

RECORD = "instance.json"
RECORD_FORMAT = 1


def nics(record: dict[str, Any]) -> list[Nic]:
    """The instance's nics (its spec's, or the default one)."""
    return [Nic(**nic) for nic in record["spec"]["nics"]] or [Nic()]


def read_record(workdir: Path) -> dict[str, Any]:
    """The record of the instance in `workdir`; InstanceNotFound if it has none."""
    try:
        record: dict[str, Any] = json.loads((workdir / RECORD).read_text())
    except FileNotFoundError:
        raise InstanceNotFound(f"no instance {workdir.name} (no {workdir / RECORD})") from None
    except (OSError, ValueError) as exc:
        raise VirtError(f"cannot read {workdir / RECORD}: {exc}") from exc
    if record.get("format") != RECORD_FORMAT:
        raise VirtError(f"{workdir / RECORD} has format {record.get('format')!r}, not "
                        f"{RECORD_FORMAT}")
    return record


def every(instances_dir: Path) -> dict[str, dict[str, Any]]:
    """Every instance's record, by id (those destroyed meanwhile left out)."""
    found = {}
    for workdir in instances_dir.iterdir():
        try:
            found[workdir.name] = read_record(workdir)
        except InstanceNotFound:
            continue
    return found


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write whole or not at all: a temporary file beside it, then os.replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def mac(instance_id: str, index: int) -> str:
    """A stable MAC in OpenStack's fa:16:3e range."""
    digest = hashlib.sha256(f"{instance_id}/{index}".encode()).digest()
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in digest[:3])


def bindable(port: int) -> bool:
    """Whether the loopback port is free."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def memory_mb() -> int:
    """The host's memory (MemTotal) in MiB."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise VirtError("no MemTotal in /proc/meminfo")


def built_kernels() -> list[Path]:
    """Kernels `labs image build` keeps in its cache: something to probe KVM with before
    any image is cached here."""
    cache = Path(os.environ.get("LABS_IMAGE_CACHE")
                 or Path.home() / ".cache" / "labs" / "image-build")
    return sorted(cache.glob("kernel/*/vmlinuz"))
