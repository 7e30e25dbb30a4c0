"""Request bodies: JSON that can be stored and sent back, checked against a schema."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import jsonschema

from labs.common.errors import BadRequest, UnsupportedMediaType

#: Deepest nesting of objects and arrays in a body (MariaDB's JSON columns stop at 32).
MAX_DEPTH = 32


def read_json(content_type: str, raw: bytes, schema: Mapping[str, Any] | None) -> Any:
    """The body as JSON, checked against ``schema`` (None if there is no schema)."""
    if schema is None:
        return None
    if not raw:
        if jsonschema.Draft202012Validator(schema).is_valid(None):
            return None  # a body the route lets the client leave out
        raise BadRequest("The request body is empty; a JSON object is expected.")
    ctype = content_type.split(";")[0].strip()
    if ctype and "json" not in ctype:
        raise UnsupportedMediaType(f"Content type {ctype!r} is not supported; send JSON.")
    try:
        body = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise BadRequest(f"Malformed request body: nested deeper than {MAX_DEPTH} "
                         "levels.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed request body: {exc}.") from None
    check_storable(body)
    validate(body, schema)
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def check_storable(body: Any) -> None:
    """Refuse JSON that parses but can be neither stored nor sent back: nesting deeper
    than ``MAX_DEPTH``, strings with an unpaired surrogate (``"\\ud800"``)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                raise BadRequest("Malformed request body: a string holds an unpaired "
                                 "surrogate.") from None
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise BadRequest(f"Malformed request body: nested deeper than {MAX_DEPTH} "
                                 "levels.")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)


def validate(body: Any, schema: Mapping[str, Any]) -> None:
    """Raise 400 with the first schema violation, naming where it is."""
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "body"
        raise BadRequest(f"Invalid input for field '{where}': {error.message}")

