"""Image options (section ``[image]`` of labs.conf, or ``LABS_IMAGE_*``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from labs.common.config import option


@dataclass(frozen=True)
class ImageOptions:
    section: ClassVar[str] = "image"
    store_dir: str = option("", "where image files live; empty: <data-dir>/images")
    project_quota_bytes: int = option(100 * 2**30, "image bytes one project may store")
    max_image_size: int = option(1 << 40, "largest single image accepted, in bytes")
    max_virtual_size: int = option(
        1 << 40, "largest disk an image may give a guest, in bytes (read from the image's "
        "header at upload and again before qemu opens it); larger images are refused")
    chunk_size: int = option(1 << 20, "bytes read and written at a time when streaming")
    hashing_algorithm: str = option(
        "sha256", "the os_hash_algo of new images: any hashlib name (Glance's default is "
        "sha512, which costs more than twice the CPU of sha256 on CPUs with SHA "
        "instructions); md5 is computed too, as the checksum")
    bootstrap_image: bool = option(True, "build and register the Labs VM image on first start")
