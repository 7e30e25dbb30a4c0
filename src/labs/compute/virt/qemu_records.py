"""The files of a qemu driver instance, and facts about the host the driver reads.

`instance.json` in each instance directory is the instance's record: the spec it was
spawned with and the MAC addresses and forwarded ports chosen for it, all that is needed
to start it again (power on, or a new driver object adopting it). It is written whole to a
temporary file and renamed into place, so readers never see half of it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from labs.compute.virt.base import (
    InstanceNotFound,
    InstanceSpec,
    InsufficientResources,
    Nic,
    VirtError,
)

RECORD = "instance.json"
RECORD_FORMAT = 1


def nics(record: dict[str, Any]) -> list[Nic]:
    """The instance's nics (its spec's, or the default one)."""
    return [Nic(**nic) for nic in record["spec"]["nics"]] or [Nic()]


def with_nic(record: dict[str, Any], nic: Nic) -> tuple[dict[str, Any], str] | None:
    """The record with `nic` added after the others, and the NIC's MAC; None when it has
    that port's NIC already."""
    if any(old.port_id == nic.port_id for old in nics(record) if old.port_id):
        return None
    chosen = nic.mac or mac(record["spec"]["id"], len(record["macs"]))
    spec = {**record["spec"], "nics": [*record["spec"]["nics"], asdict(nic)]}
    return ({**record, "spec": spec, "macs": [*record["macs"], chosen],
             "ports": [*record["ports"], None]}, chosen)


def without_nic(record: dict[str, Any], port_id: str
                ) -> tuple[dict[str, Any], Nic, int] | None:
    """The record without the NIC of `port_id`, that NIC and its index; None when it has
    no such NIC."""
    listed = [Nic(**nic) for nic in record["spec"]["nics"]]
    index = next((i for i, nic in enumerate(listed) if nic.port_id == port_id), None)
    if index is None:
        return None
    keep = [i for i in range(len(listed)) if i != index]
    spec = {**record["spec"], "nics": [record["spec"]["nics"][i] for i in keep]}
    return ({**record, "spec": spec, "macs": [record["macs"][i] for i in keep],
             "ports": [record["ports"][i] for i in keep]}, listed[index], index)


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


def free_port(instances_dir: Path, chosen: set[int], wanted: int | None) -> int:
    """A free loopback port for a forwarded ssh port (`wanted` if still free), not one
    recorded for an instance nor in `chosen` (ports chosen and not yet recorded; the port
    returned is added)."""
    recorded = {p for record in every(instances_dir).values() for p in record["ports"] if p}
    if wanted and wanted not in chosen and bindable(wanted):
        chosen.add(wanted)
        return wanted
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in chosen and port not in recorded:
            chosen.add(port)
            return port
    raise VirtError("no free loopback port for an instance's ssh port")


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


def check_capacity(instances_dir: Path, building: Mapping[str, InstanceSpec],
                   spec: InstanceSpec, host: str, vcpus: int, disk_gb: int) -> None:
    """InsufficientResources when the host's instances (recorded, stopped ones too, and
    `building`) and `spec` need more than its `vcpus`, memory or `disk_gb`."""
    held = [record["spec"] for name, record in every(instances_dir).items()
            if name not in building]
    held += [dataclasses.asdict(other) for other in building.values()]
    limits = {"vcpus": vcpus, "memory_mb": memory_mb(), "disk_gb": disk_gb}
    for key, limit in limits.items():
        used = sum(int(rec[key]) for rec in held)
        wanted = int(getattr(spec, key))
        if used + wanted > limit:
            raise InsufficientResources(
                f"{host} cannot hold instance {spec.id}: {key} {wanted} wanted, "
                f"{limit - used} of {limit} free")


def ssh_port(record: dict[str, Any]) -> int:
    """The loopback port the guest's ssh port is forwarded to (its first user-mode
    nic's)."""
    for nic, port in zip(nics(record), record["ports"], strict=True):
        if nic.kind == "user" and port:
            return int(port)
    raise VirtError(f"instance {record['spec']['id']} has no user-mode nic with a "
                    "forwarded port")
