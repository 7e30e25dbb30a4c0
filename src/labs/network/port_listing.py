"""A page of ports as ``GET /v2.0/ports`` asks for it, sorted and paged in the database
(a project may hold thousands): Neutron's ``sort_key``/``sort_dir`` pairs (then by id,
so the order is total), ``limit`` with a ``marker`` (the port the page starts after; with
``page_reverse``, the one it ends before), the API's filters (`labs.network.ports`).

A marker must be a port the caller sees through the same filters (404 otherwise); it is
ignored without a limit, as Neutron does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from labs.common.db import Database
from labs.network import models
from labs.network.errors import PortNotFound
from labs.network.ports import COLUMN_FILTERS, PortRecord, filtered, records

Port = models.Port
#: What a list may be sorted by (the API's name -> the column).
SORT_COLUMNS: dict[str, Any] = {
    **{name: COLUMN_FILTERS[name] for name in (
        "id", "name", "project_id", "tenant_id", "network_id", "mac_address", "device_id",
        "device_owner", "status", "admin_state_up")},
    "created_at": Port.created_at, "updated_at": Port.updated_at}


@dataclass(frozen=True)
class PortPage:
    """What a list asks for: its filters, its sort (key, ascending), its paging."""

    filters: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    sorts: Sequence[tuple[str, bool]] = ()
    limit: int = 0
    marker: str | None = None
    page_reverse: bool = False


def ports_page(db: Database, project_id: str | None, asked: PortPage, *,
               every_project: bool = False) -> list[PortRecord]:
    """The page of `project_id`'s ports (with `every_project`, every project's) `asked`
    for, in its order."""
    keys = [(SORT_COLUMNS[k], ascending) for k, ascending in asked.sorts]
    if not any(k == "id" for k, _ in asked.sorts):
        keys.append((Port.id, True))
    base = filtered(sa.select(Port), asked.filters)
    if not every_project:
        base = base.where(Port.project_id == (project_id or ""))
    backwards = asked.page_reverse and asked.limit > 0
    query = base.order_by(*[column.asc() if ascending != backwards else column.desc()
                            for column, ascending in keys])
    with db.reading() as tx:
        if asked.limit and asked.marker is not None:
            at = tx.scalar(base.where(Port.id == asked.marker))
            if at is None:
                raise PortNotFound(asked.marker)
            query = query.where(_beyond(keys, at, backwards))
        if asked.limit:
            query = query.limit(asked.limit)
        rows = list(tx.scalars(query))
        found = records(tx, rows)
    return found[::-1] if backwards else found


def _beyond(keys: list[tuple[Any, bool]], marker: models.Port, backwards: bool) -> Any:
    """The ports after `marker` in the order of `keys` (before it, `backwards`)."""
    def at(column: Any) -> Any:
        return sa.literal(getattr(marker, column.key), column.type)

    clauses = []
    for i, (column, ascending) in enumerate(keys):
        same = [c == at(c) for c, _ in keys[:i]]
        clauses.append(sa.and_(*same, column > at(column) if ascending != backwards
                               else column < at(column)))
    return sa.or_(*clauses)
