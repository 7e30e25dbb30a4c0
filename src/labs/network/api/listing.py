"""Lists as Neutron serves them: filters on attribute values (``?name=a&name=b`` is
either), ``fields``, ``sort_key``/``sort_dir`` pairs, ``limit``/``marker`` paging (and
``page_reverse``) with ``<collection>_links``.

Filters are validated (an attribute that cannot be filtered on is a 400), as Neutron's
``filter-validation`` does; a marker must name something the caller sees (404 as for a
show). Lists are applied to the rendered items: the networks of a cloud are few (ports,
which may be many, are sorted and paged in the database: `render`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlencode

from labs.common.errors import BadRequest, LabsError
from labs.common.http import Call, query_strings, read_limit, yes_no
from labs.network.errors import BadLimit, InvalidInput

Item = dict[str, Any]
Kind = Literal["str", "bool", "int"]
#: The words oslo's strict bool_from_string takes.
TRUE_WORDS = frozenset({"1", "t", "true", "on", "y", "yes"})
FALSE_WORDS = frozenset({"0", "f", "false", "off", "n", "no"})
CONTROLS = ("fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse")


@dataclass(frozen=True)
class Collection:
    """A listed resource: its names, what may filter it and sort it, its 404."""

    member: str  # "network"
    plural: str  # "networks"
    filters: Mapping[str, Kind]
    sort_keys: tuple[str, ...]
    not_found: Callable[[str], LabsError]
    #: Filters that are not a plain comparison: (item, values) -> whether it matches.
    matchers: Mapping[str, Callable[[Item, list[Any]], bool]] = field(default_factory=dict)

    def matches(self, item: Item, name: str, values: list[Any]) -> bool:
        match = self.matchers.get(name)
        return match(item, values) if match else item.get(name) in values

    def query(self) -> dict[str, dict[str, Any]]:
        """The list's query parameters, for the OpenAPI document."""
        return {"limit": {"type": "integer", "minimum": 0},
                **query_strings("marker", "sort_key", "sort_dir", "fields", "page_reverse"),
                **{name: {"type": "string"} for name in self.filters}}


@dataclass(frozen=True)
class ListQuery:
    filters: dict[str, list[Any]]
    fields: list[str]
    sorts: list[tuple[str, bool]]  # (key, ascending)
    limit: int
    marker: str | None
    page_reverse: bool


def fields_of(call: Call) -> list[str]:
    return [f for f in call.query.getlist("fields") if f]


def only_fields(item: Item, fields: list[str]) -> Item:
    """The item with only ``fields`` (all of it without any)."""
    return {k: v for k, v in item.items() if k in fields} if fields else item


def _tag_set(values: list[Any]) -> set[str]:
    return {tag for value in values for tag in str(value).split(",") if tag}


#: Neutron's tag filters (``standard-attr-tag``), each a comma-separated list: all of
#: them, any of them, not all of them, none of them.
TAG_MATCHERS: dict[str, Callable[[Item, list[Any]], bool]] = {
    "tags": lambda item, values: _tag_set(values) <= set(item.get("tags", [])),
    "tags-any": lambda item, values: bool(_tag_set(values) & set(item.get("tags", []))),
    "not-tags": lambda item, values: not _tag_set(values) <= set(item.get("tags", [])),
    "not-tags-any": lambda item, values: not _tag_set(values) & set(item.get("tags", [])),
}


def taggable(collection: Collection) -> Collection:
    """The collection, filtered by its items' tags too."""
    return replace(collection,
                   filters={**collection.filters, **dict.fromkeys(TAG_MATCHERS, "str")},
                   matchers={**collection.matchers, **TAG_MATCHERS})


def _convert(name: str, kind: Kind, raw: str) -> Any:
    if kind == "bool":
        return yes_no(raw, yes=TRUE_WORDS, no=FALSE_WORDS, strip=True, invalid=lambda: (
            InvalidInput(f"'{raw}' cannot be converted to boolean for {name}")))
    if kind == "int":
        digits = raw.strip().removeprefix("-")
        if not digits.isascii() or not digits.isdigit() or len(digits) > 18:
            raise InvalidInput(f"'{raw}' is not an integer for {name}")
        return int(raw)
    return raw


def _sorts(call: Call, collection: Collection) -> list[tuple[str, bool]]:
    keys, dirs = call.query.getlist("sort_key"), call.query.getlist("sort_dir")
    if len(keys) != len(dirs):
        raise BadRequest("The number of sort_keys and sort_dirs must be same")
    absent = [k for k in keys if k not in collection.sort_keys]
    if absent:
        raise BadRequest(f"{absent} is invalid attribute for sort_keys")
    wrong = [d for d in dirs if d not in ("asc", "desc")]
    if wrong:
        raise BadRequest(f"{wrong} is invalid value for sort_dirs, valid value is 'asc' "
                         "and 'desc'")
    return [(k, d == "asc") for k, d in zip(keys, dirs, strict=True)]


def parse(call: Call, collection: Collection) -> ListQuery:
    """The list's query, checked: a 400 for anything it cannot use."""
    filters: dict[str, list[Any]] = {}
    for name in dict.fromkeys(call.query.keys()):
        if name in CONTROLS:
            continue
        kind = collection.filters.get(name)
        if kind is None:
            raise BadRequest(f"{name} is invalid attribute for filtering")
        values = [_convert(name, kind, v) for v in call.query.getlist(name) if v]
        if values:
            filters[name] = values
    raw_limit = call.query.get("limit")
    limit = read_limit(raw_limit, default=0, maximum=2**31, digits=10, invalid=(
        f"Limit must be an integer 0 or greater and not '{raw_limit}'"), error=BadLimit)
    return ListQuery(filters, fields_of(call), _sorts(call, collection), limit,
                     call.query.get("marker"),
                     (call.query.get("page_reverse") or "").lower() == "true")


def _ordered(items: list[Item], sorts: list[tuple[str, bool]]) -> list[Item]:
    """Sorted by each key in turn, then by id (unique: a total order for markers)."""
    keys = [*sorts, *([] if any(k == "id" for k, _ in sorts) else [("id", True)])]
    ordered = list(items)
    for key, ascending in reversed(keys):
        ordered.sort(key=_sort_value(key), reverse=not ascending)
    return ordered


def _sort_value(key: str) -> Callable[[Item], tuple[bool, Any]]:
    """An item's value of ``key``, absent values first."""
    return lambda item: (item.get(key) is not None, item.get(key))


def select(items: list[Item], q: ListQuery, collection: Collection) -> list[Item]:
    """The page of ``items`` the query asks for, in order."""
    ordered = _ordered(items, q.sorts)
    before = after = ordered
    if q.limit and q.marker is not None:
        at = next((i for i, item in enumerate(ordered) if item["id"] == q.marker), None)
        if at is None:
            raise collection.not_found(q.marker)
        before, after = ordered[:at], ordered[at + 1:]
    matching = [item for item in (before if q.page_reverse else after)
                if all(collection.matches(item, name, values)
                       for name, values in q.filters.items())]
    if not q.limit:
        return matching
    return matching[-q.limit:] if q.page_reverse else matching[:q.limit]


def links(call: Call, page: list[Item], q: ListQuery) -> list[dict[str, str]]:
    """``next`` and ``previous``, as Neutron gives them: only with a limit; ``next``
    unless a short page ends the list, ``previous`` unless a short page begins it."""
    if not q.limit or not page:
        return []
    path = call.request.url.path.removeprefix(call.request.scope.get("root_path", ""))
    kept = [(k, v) for k, v in call.query.multi_items() if k not in ("marker", "page_reverse")]
    found = []
    if not (len(page) < q.limit and not q.page_reverse):
        found.append({"rel": "next", "href": call.url(path) + "?" + urlencode(
            [*kept, ("marker", page[-1]["id"])])})
    if not (len(page) < q.limit and q.page_reverse):
        found.append({"rel": "previous", "href": call.url(path) + "?" + urlencode(
            [*kept, ("marker", page[0]["id"]), ("page_reverse", "True")])})
    return found


def answer(call: Call, collection: Collection, items: list[Item]) -> dict[str, Any]:
    """The list's body: the page, each item with the fields asked for, and its links."""
    q = parse(call, collection)
    return render(call, collection, q, select(items, q, collection))


def render(call: Call, collection: Collection, q: ListQuery, page: list[Item]
           ) -> dict[str, Any]:
    """The body of a `page` already selected as `q` asks (sorted and paged, in the
    database for ports)."""
    body: dict[str, Any] = {collection.plural: [only_fields(i, q.fields) for i in page]}
    found = links(call, page, q)
    if found:
        body[f"{collection.plural}_links"] = found
    return body


def one(call: Call, collection: Collection, items: list[Item], ident: str) -> dict[str, Any]:
    """``{"network": {...}}`` for the item ``ident`` among ``items`` (the caller's)."""
    for item in items:
        if item["id"] == ident:
            return {collection.member: only_fields(item, fields_of(call))}
    raise collection.not_found(ident)
