"""First start of the image service: the Labs VM image, built and registered as public.

So a new cloud can boot a VM with no further step. The build is cached (a second
start, or a second cloud on the machine, only copies it); an image already
registered with the same bytes is left as it is. Where the image cannot be built
(no root for apt, no Debian tools) the cloud still comes up and says what to do.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

from labs.common.context import RequestContext
from labs.image.records import ImageFilter
from labs.image.service import ImageService
from labs.vmimage.builder import ImageBuildError, build_image

log = logging.getLogger("labs.image.bootstrap")

SHA256_PROPERTY = "labs_image_sha256"
#: The name the image is registered under; its files are built as `labs.qcow2`.
IMAGE_NAME = "labs"


def _chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def ensure_labs_image(images: ImageService, admin_project_id: str) -> str | None:
    """Register the Labs image if it is not there yet; returns its id (None if unbuilt)."""
    admin = RequestContext(user_id="labs-bootstrap", project_id=admin_project_id,
                           roles=frozenset({"admin"}))
    with tempfile.TemporaryDirectory(prefix="labs-image-") as tmp:
        try:
            built = build_image(Path(tmp))
        except (ImageBuildError, OSError) as exc:
            log.warning("could not build the Labs VM image (%s); build it with `labs image "
                        "build` and register it with `openstack image create`", exc)
            return None
        where = ImageFilter(columns=(("name", IMAGE_NAME),), limit=100)
        for found in images.records.list_images(admin, where):
            if (found.row.properties or {}).get(SHA256_PROPERTY) == built.sha256 and \
                    found.row.status == "active":
                return found.row.id
        fields = {"name": IMAGE_NAME, "visibility": "public", "disk_format": "qcow2",
                  "container_format": "bare", SHA256_PROPERTY: built.sha256,
                  **{k: str(v) for k, v in built.manifest.get("properties", {}).items()}}
        view = images.create(admin, fields)
        images.data.upload(admin, view.row.id, _chunks(built.path), built.size)
        log.info("registered the Labs VM image %s (%d bytes) as public image %s",
                 IMAGE_NAME, built.size, view.row.id)
        return view.row.id
