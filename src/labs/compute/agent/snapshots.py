"""A server's snapshot, from the agent's host to the image service: the driver writes the
disk into a temporary directory under the agent's snapshot directory, the image record is
told the disk's format, the bytes are uploaded, and the temporary directory goes, whether
the upload worked or not (a failed one also deletes the half-made image)."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx

from labs.compute.virt.base import VirtDriver, VirtError

log = logging.getLogger("labs.compute.agent.manager")

PATCH_TYPE = "application/openstack-images-v2.1-json-patch"


def _chunks(data: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    while chunk := data.read(size):
        yield chunk


def upload_snapshot(driver: VirtDriver, instance_id: str, snapshot_dir: Path | None,
                    image_id: str, image_url: str, token: str) -> str | None:
    """Snapshot `instance_id` into image `image_id`; None, or what went wrong."""
    file_url = f"{image_url.rstrip('/')}/v2/images/{image_id}/file"
    headers = {"X-Auth-Token": token}
    with tempfile.TemporaryDirectory(prefix=f"{instance_id}.", dir=snapshot_dir) as tmp:
        target = Path(tmp) / "disk"
        try:
            fmt = driver.snapshot(instance_id, target)
            # the image says what the driver wrote (qemu: qcow2, whatever the server
            # booted from): the image service refuses bytes of another format
            httpx.patch(file_url.rsplit("/file", 1)[0], timeout=30, headers={
                **headers, "Content-Type": PATCH_TYPE}, json=[
                    {"op": "replace", "path": "/disk_format", "value": fmt}]
            ).raise_for_status()
            with target.open("rb") as data:
                reply = httpx.put(file_url, content=_chunks(data), timeout=600, headers={
                    **headers, "Content-Type": "application/octet-stream",
                    "Content-Length": str(target.stat().st_size)})
            reply.raise_for_status()
        except (VirtError, OSError, httpx.HTTPError) as exc:
            with contextlib.suppress(httpx.HTTPError):  # no half-made image stays
                httpx.delete(file_url.rsplit("/file", 1)[0], headers=headers, timeout=30)
            return f"snapshot of {instance_id} failed: {exc}"
    return None
