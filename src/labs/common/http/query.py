"""Query parameters: their declarations for the OpenAPI document, and yes/no flags as
each API reads them."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, overload

from labs.common.errors import BadRequest, LabsError

#: The words most OpenStack services take for yes and for no.
YES = frozenset({"1", "true", "yes", "on"})
NO = frozenset({"0", "false", "no", "off"})


def query_strings(*names: str) -> dict[str, dict[str, Any]]:
    """Query parameters that take any string (filters by name, id, ...)."""
    return {name: {"type": "string"} for name in names}


@overload
def yes_no(raw: str | None, *, yes: Collection[str] | None = YES,
           no: Collection[str] | None = NO, strip: bool = False,
           invalid: Callable[[], LabsError] | None = None, absent: bool = False) -> bool: ...
@overload
def yes_no(raw: str | None, *, yes: Collection[str] | None = YES,
           no: Collection[str] | None = NO, strip: bool = False,
           invalid: Callable[[], LabsError] | None = None, absent: None) -> bool | None: ...
def yes_no(raw: str | None, *, yes: Collection[str] | None = YES,
           no: Collection[str] | None = NO, strip: bool = False,
           invalid: Callable[[], LabsError] | None = None,
           absent: bool | None = False) -> bool | None:
    """A yes/no query value (compared in lower case, ``strip``ped if asked): ``absent``
    when the parameter is missing.

    ``yes=None`` takes every word but the ``no`` ones for yes (``?nocatalog``), ``no=None``
    every word but the ``yes`` ones for no; with both, any other word raises ``invalid()``.
    """
    if raw is None:
        return absent
    word = raw.strip().lower() if strip else raw.lower()
    if yes is None:
        return no is None or word not in no
    if word in yes:
        return True
    if no is None or word in no:
        return False
    raise invalid() if invalid is not None else BadRequest(f"{raw!r} is neither yes nor no.")
