"""An OpenAPI 3.1 document of an API's routes, for clients and fuzzers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import jsonschema

if TYPE_CHECKING:
    from labs.common.http.routing import Endpoint


def document(title: str, endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    """Every route of ``endpoints`` as one OpenAPI document."""
    paths: dict[str, dict[str, Any]] = {}
    seen: dict[str, int] = {}
    for ep in endpoints:
        name = f"{ep.method.lower()}_{ep.handler.__name__}"
        seen[name] = seen.get(name, 0) + 1
        op: dict[str, Any] = {
            "operationId": name if seen[name] == 1 else f"{name}_{seen[name]}",
            "summary": ep.summary.splitlines()[0] if ep.summary else ep.handler.__name__,
            "responses": {str(ep.status): {"description": "success"},
                          "default": {"description": "OpenStack error body"}},
        }
        names = [part[1:-1].split(":")[0] for part in ep.path.split("/")
                 if part.startswith("{")]
        params = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "string", "minLength": 1}} for name in names]
        params += [{"name": name, "in": "query", "required": False, "schema": schema}
                   for name, schema in ep.query.items()]
        if params:
            op["parameters"] = params
        if ep.stream:
            op["requestBody"] = {"required": True, "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}}
        elif ep.schema is not None:
            optional = jsonschema.Draft202012Validator(ep.schema).is_valid(None)
            op["requestBody"] = {"required": not optional,
                                 "content": {ep.media_type: {"schema": ep.schema}}}
        # Starlette's converters ({targets:str}) are not part of OpenAPI's templates
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", ep.path)
        paths.setdefault(path, {})[ep.method.lower()] = op
    return {"openapi": "3.1.0", "info": {"title": title, "version": "1"},
            "paths": paths}
