"""The image list's query: filters, sorting and paging, read as Glance reads them.

As in Glance, a parameter that is none of the named ones filters on the image property of
that name (``?os_distro=debian``, what ``openstack image list --property k=v`` sends).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from labs.common.errors import BadRequest
from labs.common.http import Call, query_strings, read_limit, yes_no
from labs.common.numbers import is_digits
from labs.image.records import SORT_KEYS, VISIBILITIES, ImageFilter

MAX_LIMIT = 1000
#: Columns filtered by equality, as Glance's base properties.
COLUMNS = ("name", "status", "owner", "disk_format", "container_format", "checksum",
           "os_hash_algo", "os_hash_value")
#: Whole-number columns filtered by equality.
NUMBERS = ("min_disk", "min_ram", "virtual_size")
#: Times filtered as Glance does: ``created_at=gte:2024-01-01T00:00:00Z`` (gt, gte, lt,
#: lte, eq, neq; eq when no operator is given).
TIMES = ("created_at", "updated_at")
OPERATORS = ("gt", "gte", "lt", "lte", "eq", "neq")
#: Parameters that are not filters on a property.
NAMED = frozenset({*COLUMNS, *NUMBERS, *TIMES, "limit", "marker", "visibility",
                   "member_status", "tag", "id", "os_hidden", "protected", "size_min",
                   "size_max", "sort", "sort_key", "sort_dir"})
#: Property names a property filter may use (others are no property an image can have
#: through this API, and would only make odd JSON paths).
PROPERTY_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,255}$")
#: The query parameters of the image list.
LIST_QUERY = {"limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
              "size_min": {"type": "integer", "minimum": 0},
              "size_max": {"type": "integer", "minimum": 0},
              "protected": {"enum": ["true", "false"]},
              **{n: {"type": "integer", "minimum": 0} for n in NUMBERS},
              **query_strings(*COLUMNS, *TIMES, "marker", "visibility", "member_status",
                              "tag", "id", "os_hidden", "sort", "sort_key", "sort_dir")}


def _sort(call: Call) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    if "sort" in call.query:
        if "sort_key" in call.query or "sort_dir" in call.query:
            raise BadRequest("Old and new sorting syntax cannot be combined")
        for part in call.query["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            pairs.append((key, direction or "desc"))
    else:
        keys = call.query.getlist("sort_key") or ["created_at"]
        dirs = call.query.getlist("sort_dir") or ["desc"]
        if len(dirs) not in (1, len(keys)):
            raise BadRequest("Give one sort_dir, or one for each sort_key.")
        pairs = [(k, dirs[i] if len(dirs) > 1 else dirs[0]) for i, k in enumerate(keys)]
    for key, direction in pairs:
        if key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort key: {key}. Use one of {', '.join(SORT_KEYS)}.")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {direction}. Use asc or desc.")
    return tuple(pairs)


def _size(call: Call, name: str) -> int | None:
    raw = call.query.get(name)
    if raw is None:
        return None
    if not is_digits(raw) or len(raw) > 19:
        raise BadRequest(f"Invalid {name} value: {raw[:40]}. Use a number of bytes.")
    return int(raw)


def _numbers(call: Call) -> tuple[tuple[str, int], ...]:
    found = []
    for name in NUMBERS:
        if name in call.query:
            value = _size(call, name)
            assert value is not None
            found.append((name, value))
    return tuple(found)


def _times(call: Call) -> tuple[tuple[str, str, datetime], ...]:
    found = []
    for name in TIMES:
        for raw in call.query.getlist(name):
            operator, text = (raw.split(":", 1) if ":" in raw and raw.split(":", 1)[0] in
                              OPERATORS else ("eq", raw))
            try:  # overflow: a zone moving the moment past year 1 or 9999
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
                if moment.tzinfo is not None:
                    moment = moment.astimezone(UTC).replace(tzinfo=None)
            except (ValueError, OverflowError):
                raise BadRequest(f"Invalid {name} value: {raw[:60]}. Use [OPERATOR:]TIME, "
                                 f"TIME in ISO 8601, OPERATOR one of "
                                 f"{', '.join(OPERATORS)}.") from None
            found.append((name, operator, moment))
    return tuple(found)


def _properties(call: Call) -> tuple[tuple[str, str], ...]:
    found = []
    for key, value in call.query.multi_items():
        if key in NAMED:
            continue
        if key == "changes-since":
            raise BadRequest('The "changes-since" filter is no longer available on v2.')
        if not PROPERTY_NAME.match(key):
            raise BadRequest(f"Invalid filter: {key[:60]!r} is no property name.")
        found.append((key, value))
    return tuple(found)


def image_filter(call: Call) -> ImageFilter:
    q = call.query
    visibility = q.get("visibility")
    if visibility is not None and visibility not in (*VISIBILITIES, "all"):
        raise BadRequest(f"Invalid visibility value: {visibility}")
    member_status = q.get("member_status", "accepted")
    if member_status not in ("pending", "accepted", "rejected", "all"):
        raise BadRequest(f"Invalid member_status value: {member_status}")
    hidden = yes_no(q.get("os_hidden"), yes=("true",), no=("false",), invalid=lambda: BadRequest(
        f"Invalid os_hidden value: {q['os_hidden']}. Use true or false."))
    protected = yes_no(q.get("protected"), yes=("true",), no=("false",), absent=None,
                       invalid=lambda: BadRequest(
                           f"Invalid value '{q['protected']}' for 'protected' filter. Valid "
                           "values are 'true' or 'false'."))
    ids = None
    if "id" in q:
        if not q["id"].startswith("in:"):
            raise BadRequest("The id filter takes the form id=in:ID1,ID2.")
        ids = tuple(i for i in q["id"][3:].split(",") if i)
    return ImageFilter(
        columns=tuple((c, q[c]) for c in COLUMNS if c in q), numbers=_numbers(call),
        times=_times(call), visibility=visibility,
        member_status=member_status, tags=tuple(q.getlist("tag")), ids=ids, os_hidden=hidden,
        protected=protected, size_min=_size(call, "size_min"),
        size_max=_size(call, "size_max"), properties=_properties(call), sort=_sort(call),
        limit=read_limit(q.get("limit"), default=25, minimum=1, maximum=MAX_LIMIT, digits=19,
                         invalid=f"limit must be an integer from 1 to {MAX_LIMIT}."),
        marker=q.get("marker"))
