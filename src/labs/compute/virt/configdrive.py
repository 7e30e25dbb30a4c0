"""The config drive: what a guest learns about itself at first boot, on an ISO 9660 disk.

As Nova makes it: volume label `config-2`, `openstack/latest/meta_data.json` (uuid,
names, project, ssh keys, metadata) and `openstack/latest/user_data` (the user data,
decoded). The Labs guest reads it (src/labs/vmimage/guest/firstboot) and names itself
`<hostname>.<project_name>.<dns_domain>` from `meta`.
"""

from __future__ import annotations

import base64
import binascii
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from labs.compute.virt.base import InstanceSpec, SpawnError

LABEL = "config-2"
TIMEOUT = 60.0


def meta_data(spec: InstanceSpec) -> dict[str, Any]:
    """meta_data.json for the instance."""
    meta: dict[str, str] = dict(spec.metadata)
    if spec.project_name:
        meta["project_name"] = spec.project_name
    if spec.dns_domain:
        meta["dns_domain"] = spec.dns_domain
    data: dict[str, Any] = {
        "uuid": spec.id, "name": spec.name, "hostname": spec.hostname,
        "project_id": spec.project_id, "launch_index": 0, "meta": meta,
        "public_keys": {}, "keys": []}
    if spec.key_data:
        key = spec.key_data.strip()
        data["public_keys"] = {"default": key}
        data["keys"] = [{"name": "default", "type": "ssh", "data": key}]
    return data


def user_data(spec: InstanceSpec) -> bytes | None:
    """The user data as the guest gets it: decoded from the API's base64."""
    if spec.user_data is None:
        return None
    try:
        return base64.b64decode(spec.user_data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SpawnError(f"user data of instance {spec.id} is not valid base64: {exc}") \
            from None


def make_config_drive(spec: InstanceSpec, target: Path) -> None:
    """Write the instance's config drive to `target` (an ISO 9660 image)."""
    xorriso = shutil.which("xorriso")
    if xorriso is None:
        raise SpawnError("xorriso not found: install the Debian package xorriso (the qemu "
                         "driver makes config drives with it)")
    data = user_data(spec)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".config-drive-") as tmp:
        latest = Path(tmp) / "openstack" / "latest"
        latest.mkdir(parents=True)
        (latest / "meta_data.json").write_text(json.dumps(meta_data(spec), sort_keys=True))
        if data is not None:
            (latest / "user_data").write_bytes(data)
        cmd = [xorriso, "-as", "mkisofs", "-quiet", "-V", LABEL, "-J", "-R",
               "-o", str(target), tmp]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SpawnError(f"making the config drive of {spec.id} failed: {exc}") from exc
    if done.returncode != 0:
        raise SpawnError(f"making the config drive of {spec.id} failed (xorriso exit "
                         f"{done.returncode}): {done.stderr.strip()[-1000:]}")
