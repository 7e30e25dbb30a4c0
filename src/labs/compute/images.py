"""How compute finds the image a server boots from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import NotFound


@dataclass(frozen=True)
class ImageInfo:
    id: str
    name: str
    status: str
    min_disk: int = 0  # GiB
    min_ram: int = 0  # MiB
    size: int = 0
    properties: dict[str, Any] = field(default_factory=dict)


class ImageLookup(ABC):
    @abstractmethod
    def find(self, ctx: RequestContext, image_id: str) -> ImageInfo | None:
        """The image as ``ctx`` may see it; None when it does not exist for them."""


class LocalImages(ImageLookup):
    """The image service in the same process (the all-in-one)."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def find(self, ctx: RequestContext, image_id: str) -> ImageInfo | None:
        try:
            view = self.service.get(ctx, image_id)
        except NotFound:
            return None
        row = view.row
        return ImageInfo(id=row.id, name=row.name or "", status=row.status,
                         min_disk=row.min_disk, min_ram=row.min_ram, size=row.size or 0,
                         properties=dict(row.properties or {}))
