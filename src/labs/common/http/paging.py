"""Paging a list: ``?limit=`` read as each API reads it, and the query of the link to
the next page (the same query with ``marker`` set to the last item seen)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from labs.common.errors import BadRequest, LabsError
from labs.common.numbers import is_digits

#: The paging parameters of most lists (``?limit=&marker=``).
PAGING: dict[str, dict[str, Any]] = {"limit": {"type": "integer", "minimum": 0},
                                     "marker": {"type": "string"}}
#: Nova's ``limit`` and ``offset`` (server groups, security groups).
WINDOW: dict[str, dict[str, Any]] = {"limit": {"type": "integer", "minimum": 0},
                                     "offset": {"type": "integer", "minimum": 0}}


def read_limit(raw: str | None, *, default: int, maximum: int, minimum: int = 0,
               clamp: bool = False, words: Mapping[str, int] | None = None,
               digits: int | None = None, invalid: str,
               error: type[LabsError] = BadRequest) -> int:
    """The page size a ``?limit=`` asks for: ``default`` without one.

    With ``clamp`` (Nova) 0 and anything over ``maximum`` mean ``maximum``; otherwise a
    number outside ``minimum..maximum`` is refused, as is anything but ASCII digits (at
    most ``digits`` of them) or one of ``words`` (Designate's ``max``, any case), with
    ``error(invalid)``.
    """
    if raw is None:
        return default
    if words and raw.lower() in words:
        return words[raw.lower()]
    if not is_digits(raw) or (digits is not None and len(raw) > digits):
        raise error(invalid)
    value = int(raw)
    if clamp:
        return min(value or maximum, maximum)
    if not minimum <= value <= maximum:
        raise error(invalid)
    return value


def next_page_query(params: Iterable[tuple[str, str]], last_id: str) -> str:
    """The query string of the next page: ``params`` but their ``marker``, then
    ``marker=last_id``."""
    return urlencode([*((k, v) for k, v in params if k != "marker"), ("marker", last_id)])
