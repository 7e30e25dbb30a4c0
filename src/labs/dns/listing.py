"""Lists as Designate pages them: filters (``*`` is a wildcard), ``sort_key`` and
``sort_dir``, ``limit`` (or ``max``) and ``marker`` (the id of the last item seen)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import SQLCoreOperations

from labs.common.http import read_limit
from labs.common.numbers import is_digits
from labs.dns.errors import BadRequest, InvalidLimit, InvalidSortDir, InvalidSortKey, MarkerNotFound

DEFAULT_LIMIT = 20
#: The largest TTL (a signed 32-bit number, as the column and Designate's schema).
MAX_TTL = 2**31 - 1
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Listing:
    """What a list asks for: filters by column and one page."""

    filters: Mapping[str, str] = field(default_factory=dict)
    limit: int = DEFAULT_LIMIT
    marker: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "asc"


@dataclass(frozen=True)
class Page:
    """One page of rows, how many match in all, and whether more follow."""

    rows: list[Any]
    total: int
    more: bool


def parse_listing(query: Mapping[str, str], accepted: tuple[str, ...],
                  sort_keys: tuple[str, ...], ignored: tuple[str, ...] = ()) -> Listing:
    """A list request's query string, checked as Designate checks it."""
    limit = read_limit(query.get("limit"), default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT,
                       words={"max": MAX_LIMIT}, error=InvalidLimit,
                       invalid=f"limit should be an integer between 1 and {MAX_LIMIT}")
    sort_dir = query.get("sort_dir", "asc")
    if sort_dir not in ("asc", "desc"):
        raise InvalidSortDir("Unknown sort direction, must be 'desc' or 'asc'")
    sort_key = query.get("sort_key", "created_at")
    if sort_key not in sort_keys:
        raise InvalidSortKey(f"sort key must be one of {list(sort_keys)}")
    paging = {"limit", "marker", "sort_key", "sort_dir", *ignored}
    invalid = sorted(k for k in query if k not in paging and k not in accepted)
    if invalid:
        raise BadRequest(f"Invalid filters {', '.join(invalid)}")
    filters = {k: v for k, v in query.items() if k in accepted}
    if "ttl" in filters and not (is_digits(filters["ttl"]) and int(filters["ttl"]) <= MAX_TTL):
        raise BadRequest(f"Invalid filter ttl={filters['ttl']}: a TTL is a number from 0 to "
                         f"{MAX_TTL}")
    return Listing(filters, limit, query.get("marker"), sort_key, sort_dir)


def matching(column: SQLCoreOperations[Any], value: str) -> sa.ColumnElement[bool]:
    """``column`` equal to ``value``, or like it where ``value`` holds ``*``."""
    if "*" in value:
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return column.like(escaped.replace("*", "%"), escape="\\")
    return column == value


def page(tx: Session, query: sa.Select[Any], model: Any, listing: Listing) -> Page:
    """Run ``query`` (rows of ``model``) for one page: sorted by the key then the id,
    after the marker's row."""
    total = tx.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    key, ident = getattr(model, listing.sort_key), model.id
    descending = listing.sort_dir == "desc"
    if listing.marker is not None:
        # Looked up through the caller's own query: another project's row is as unknown
        # as a made-up id (same 400), so a marker cannot probe what the caller cannot see.
        marker = tx.scalars(query.where(ident == listing.marker).limit(1)).first()
        if marker is None:
            raise MarkerNotFound(f"Marker {listing.marker} could not be found")
        mark = getattr(marker, listing.sort_key)
        after = (sa.or_(key < mark, sa.and_(key == mark, ident < marker.id)) if descending
                 else sa.or_(key > mark, sa.and_(key == mark, ident > marker.id)))
        query = query.where(after)
    order = (key.desc(), ident.desc()) if descending else (key.asc(), ident.asc())
    rows = list(tx.scalars(query.order_by(*order).limit(listing.limit + 1)))
    return Page(rows[:listing.limit], int(total or 0), len(rows) > listing.limit)
