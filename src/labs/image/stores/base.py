"""Where image data lives: the store interface.

Rules every store keeps:
- ``write`` consumes the chunks into a new object and returns its location
  only once all of it is durable; if the chunks stop early, raise, or exceed
  ``max_size``, nothing is left behind and the exception propagates.
- ``open`` streams an existing object, optionally a byte range of it.
- ``delete`` removes an object; deleting one that is already gone is fine.
- ``discard_upload`` removes what a dead upload of an image left, and says whether no
  upload of it is running (in any process).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from labs.common.errors import LabsError


class StoreFull(LabsError):
    code = 413
    title = "Request Entity Too Large"


@dataclass(frozen=True)
class StoredObject:
    location: str
    size: int
    md5: str  #: Glance's ``checksum``
    hash_algo: str  #: Glance's ``os_hash_algo``
    hash_value: str  #: ``os_hash_value``


class ImageStore(ABC):
    @abstractmethod
    def write(self, image_id: str, chunks: Iterable[bytes], max_size: int,
              hash_algo: str = "sha256") -> StoredObject:
        """Store the stream; md5 and ``hash_algo`` (a hashlib name) are computed on
        the way in."""

    @abstractmethod
    def open(self, location: str, start: int = 0, end: int | None = None,
             chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Bytes ``start`` up to (excluding) ``end`` of an object."""

    @abstractmethod
    def size(self, location: str) -> int:
        """The object's size; FileNotFoundError if it is gone."""

    @abstractmethod
    def path(self, location: str) -> str | None:
        """A local file path to the object, if the store has one (for qemu-img)."""

    @abstractmethod
    def delete(self, location: str) -> None:
        """Remove the object; a missing object is not an error."""

    @abstractmethod
    def discard_upload(self, image_id: str) -> bool:
        """Remove the partial data of the image's dead uploads; False if an upload of
        it is still running (then nothing of it is touched)."""
