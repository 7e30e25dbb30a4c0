"""Image data as files in one directory, written atomically.

An upload writes `.upload-<image id>-<random>` and renames it into place. It holds an
exclusive flock on that file while it writes, so that whoever sweeps leftovers (a
process starting, on this host) tells a running upload from one a crash cut short:
the kernel lets go of the lock when its process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from labs.image.stores.base import ImageStore, StoredObject, StoreFull


class FilesystemStore(ImageStore):
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.sweep()

    def sweep(self) -> None:
        """Remove what interrupted uploads left (a crash before the rename)."""
        self._discard(".upload-*")

    def discard_upload(self, image_id: str) -> bool:
        return self._discard(f".upload-{image_id}-*")

    def _discard(self, pattern: str) -> bool:
        """Remove the upload files matching `pattern` that no live upload holds; whether
        none was held."""
        idle = True
        for leftover in self.directory.glob(pattern):
            try:
                with open(leftover, "rb") as handle:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    leftover.unlink(missing_ok=True)
            except BlockingIOError:
                idle = False  # a running upload
            except FileNotFoundError:
                pass  # renamed into place or removed meanwhile
        return idle

    def _file(self, location: str) -> Path:
        if "/" in location or location.startswith("."):
            raise ValueError(f"not a location of this store: {location!r}")
        return self.directory / location

    def write(self, image_id: str, chunks: Iterable[bytes], max_size: int,
              hash_algo: str = "sha256") -> StoredObject:
        """Write and hash the data at once: md5 and ``hash_algo`` each run in their own
        thread (hashlib lets go of the GIL) on one chunk while the next one arrives."""
        tmp = self.directory / f".upload-{image_id}-{uuid.uuid4().hex}"
        md5, multihash, size = hashlib.md5(usedforsecurity=False), hashlib.new(hash_algo), 0
        hashing: list[Future[None]] = []
        try:
            with open(tmp, "wb") as out, ThreadPoolExecutor(2, "image-hash") as hashers:
                fcntl.flock(out, fcntl.LOCK_EX)  # a live upload: see the module docstring
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_size:
                        raise StoreFull(f"Image data exceeds the {max_size} bytes allowed.")
                    for done in hashing:  # in order: the previous chunk is hashed first
                        done.result()
                    hashing = [hashers.submit(md5.update, chunk),
                               hashers.submit(multihash.update, chunk)]
                    out.write(chunk)
                for done in hashing:
                    done.result()
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self._file(image_id))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return StoredObject(image_id, size, md5.hexdigest(), hash_algo, multihash.hexdigest())

    def open(self, location: str, start: int = 0, end: int | None = None,
             chunk_size: int = 1 << 20) -> Iterator[bytes]:
        with open(self._file(location), "rb") as handle:
            handle.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                chunk = handle.read(chunk_size if left is None else min(chunk_size, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def size(self, location: str) -> int:
        return self._file(location).stat().st_size

    def path(self, location: str) -> str | None:
        return str(self._file(location))

    def delete(self, location: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._file(location).unlink()
