"""Revision numbers (Neutron's ``revision-if-match``): every change of a resource
raises its ``revision_number``; a change asked with ``If-Match: revision_number=N``
is made only while the resource is at revision N (else 412), checked in the change's
own transaction."""

from __future__ import annotations

from typing import Any

from labs.common.errors import LabsError


class RevisionNumberConstraintFailed(LabsError):
    code = 412
    title = "Precondition Failed"
    neutron_type = "RevisionNumberConstraintFailed"

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(f"Constrained to {expected}, but current revision is {current}")


def check(row: Any, expected: int | None) -> None:
    """412 unless the (locked) `row` is at revision `expected` (None: any)."""
    if expected is not None and row.revision_number != expected:
        raise RevisionNumberConstraintFailed(expected, row.revision_number)
