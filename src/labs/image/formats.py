"""Disk and container formats, and what an image's bytes say about its size."""

from __future__ import annotations

import struct

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")

QCOW2_MAGIC = b"QFI\xfb"


def virtual_size(disk_format: str | None, head: bytes, size: int) -> int | None:
    """The disk size a guest sees: from the qcow2 header, or the file size for raw."""
    if disk_format == "qcow2":
        if len(head) >= 32 and head[:4] == QCOW2_MAGIC:
            return int(struct.unpack(">Q", head[24:32])[0])
        return None
    if disk_format in ("raw", "iso"):
        return size
    return None
