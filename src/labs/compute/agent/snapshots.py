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
from typing import Any, BinaryIO

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


def delete_image(image_url: str, image_id: str, token: str) -> str | None:
    """Delete an image (gone already is fine); None, or what went wrong."""
    try:
        reply = httpx.delete(f"{image_url.rstrip('/')}/v2/images/{image_id}",
                             headers={"X-Auth-Token": token}, timeout=30)
        if reply.status_code != 404:
            reply.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("could not delete image %s: %s", image_id, exc)
        return f"could not delete image {image_id}: {exc}"
    return None


def rotate_backups(image_url: str, token: str, instance_id: str, backup_type: str,
                   rotation: int) -> str | None:
    """Keep the newest ``rotation`` backups of ``backup_type`` of the instance (0: none),
    as Nova: the others, oldest first, are deleted. None, or what went wrong."""
    headers = {"X-Auth-Token": token}
    base = image_url.rstrip("/")
    backups: list[dict[str, Any]] = []
    query: str | None = "/v2/images?limit=1000&sort_key=created_at&sort_dir=desc"
    try:
        while query is not None:  # the image API filters no properties: read them all
            reply = httpx.get(base + query, headers=headers, timeout=30)
            reply.raise_for_status()
            page = reply.json()
            backups += [image for image in page["images"]
                        if image.get("instance_uuid") == instance_id
                        and image.get("image_type") == "backup"
                        and image.get("backup_type") == backup_type]
            query = page.get("next")
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return f"backups of {instance_id} not rotated: {exc}"
    errors = [error for image in backups[rotation:]
              if (error := delete_image(image_url, image["id"], token)) is not None]
    return "; ".join(errors) or None
