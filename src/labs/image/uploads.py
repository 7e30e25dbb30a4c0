"""An upload's bytes on their way to the store: inspected and counted against the
project's image quota as they arrive.

The quota is held by a reservation on the image's row (`reserved`), which every
project's usage counts. A Content-Length upload reserves its length at the start; one
sent chunked (no length) grows its reservation in steps, under the project's lock, before
it takes bytes past what it holds, so parallel uploads never store more than the quota
together. A step reserves an eighth more than has arrived (at least a chunk, at most
MAX_STEP ahead), so a large upload takes few locks and holds little it does not use, and
never more than is left: the loser of a race for the last room fails (413) and gives its
reservation back at once.

The bytes are fed to a FormatInspector; after the last chunk the verdict is given before
the store makes the object (the store's `write` sees the error, removes what it wrote
and passes it on), so a refused image leaves nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from labs.image.format_inspector import FormatInspector, Inspection

MAX_STEP = 64 << 20


class UploadStream:
    """The chunks of one upload as the store reads them. `grow(size)` reserves room for
    at least `size` bytes and returns what is now reserved, or raises; `verdict` checks
    the inspection after the last byte."""

    def __init__(self, chunks: Iterable[bytes], reserved: int, step: int,
                 grow: Callable[[int], int], verdict: Callable[[Inspection], None]) -> None:
        self._chunks, self._grow, self._verdict = chunks, grow, verdict
        self.reserved, self.step, self.size = reserved, step, 0
        self.inspector = FormatInspector()
        self.inspection: Inspection | None = None

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.size += len(chunk)
            if self.size > self.reserved:
                self.reserved = self._grow(self.size)
            self.inspector.feed(chunk)
            yield chunk
        self.inspection = self.inspector.result()
        self._verdict(self.inspection)

    def wanted(self, size: int) -> int:
        """What to reserve once `size` bytes have arrived: an eighth more, at least
        `step` and at most MAX_STEP more."""
        return size + min(max(size // 8, self.step), MAX_STEP)
