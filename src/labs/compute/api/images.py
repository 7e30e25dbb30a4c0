"""How compute finds the image a server boots from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import BadRequest, NotFound
from labs.image.records import READ_ONLY, SETTABLE


@dataclass(frozen=True)
class ImageInfo:
    id: str
    name: str
    status: str
    min_disk: int = 0  # GiB
    min_ram: int = 0  # MiB
    size: int = 0
    virtual_size: int = 0  # bytes of the disk it holds (qcow2), when known
    disk_format: str = "raw"
    properties: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


def check_snapshot_properties(metadata: dict[str, str]) -> None:
    """A snapshot's ``metadata`` becomes extra properties of the new image: never one of
    the image's own fields (``id``, ``visibility``, ``min_disk`` ...) nor a name Glance
    reserves for itself (``os_glance_*``)."""
    for key in metadata:
        if key in READ_ONLY or key in SETTABLE or key == "tags":
            raise BadRequest(f"Invalid image metadata: '{key}' is an image attribute, not "
                             "a property.")
        if key.startswith("os_glance"):
            raise BadRequest(f"Invalid image metadata: '{key}' is reserved.")


class ImageLookup(ABC):
    @abstractmethod
    def find(self, ctx: RequestContext, image_id: str) -> ImageInfo | None:
        """The image as ``ctx`` may see it; None when it does not exist for them."""

    def list_images(self, ctx: RequestContext, limit: int,
                    marker: str | None = None) -> list[ImageInfo]:
        """Up to ``limit`` images ``ctx`` sees (as Glance lists them, newest first), after
        the one ``marker`` names (NotFound when it sees no such image)."""
        return []

    def delete_image(self, ctx: RequestContext, image_id: str) -> None:
        """Delete the image as ``ctx`` (the image service's rules: owner or admin, not
        protected); NotFound when it sees no such image."""
        raise NotFound(f"Image {image_id} could not be found.")

    def create_snapshot(self, ctx: RequestContext, name: str, disk_format: str,
                        properties: dict[str, str]) -> str:
        """Record a new private image of ``ctx``'s project, still without data (the
        agent uploads it); returns its id."""
        raise BadRequest("This cloud has no image service to keep snapshots in.")

    def discard_image(self, ctx: RequestContext, image_id: str) -> None:  # noqa: B027
        """Delete an image ``ctx`` may delete (a shelved server's); a missing one is
        fine."""

    def upload_url(self) -> str | None:
        """The image API's URL (``.../image``) as agents should reach it."""
        return None
