"""What every DNS handler shares: Designate's error body, the caller's reach (the
all-projects, sudo and edit-managed headers), list parameters and links."""

from __future__ import annotations

import contextvars
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import jsonschema
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from labs.common.errors import LabsError, UnsupportedMediaType
from labs.common.http import Api, Call, Endpoint, next_page_query, query_strings, yes_no
from labs.dns import errors
from labs.dns.listing import MAX_LIMIT, Listing, Page, parse_listing
from labs.dns.scope import Caller

#: The request id of the request being answered, for error bodies.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("dns_request_id",
                                                                 default="")
#: The media type of zone files (imports and exports).
ZONE_FILE = "text/dns"
TRUE = ("1", "true", "yes", "on", "y", "t")


def designate_error(err: LabsError) -> dict[str, Any]:
    """``{"code", "type", "message", "errors"?, "request_id"}``, as Designate answers."""
    body: dict[str, Any] = {"code": err.code, "type": errors.error_type(err),
                            "message": err.message}
    if isinstance(err, errors.InvalidObject) and err.errors:
        body["errors"] = {"errors": err.errors}
    body["request_id"] = request_id.get()
    return body


class DesignateApi(Api):
    """An `Api` whose bodies fail validation as Designate's do (400 ``invalid_object``
    listing each problem) and whose errors carry the request id."""

    def __init__(self, name: str) -> None:
        super().__init__(name, render_error=designate_error)

    @staticmethod
    def _parse_body(request: Request, raw: bytes, endpoint: Endpoint) -> Any:
        if endpoint.media_type == ZONE_FILE:  # a zone file, read by its handler
            sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if sent != ZONE_FILE:
                raise UnsupportedMediaType(f"Unsupported Content-Type {sent!r}: send the zone "
                                           f"file as {ZONE_FILE}")
            return raw
        if endpoint.schema is None:
            return None
        body = Api._parse_body(request, raw, replace(endpoint, schema={}))
        validate_body(body, endpoint.schema)
        return body

    def app(self) -> ASGIApp:
        inner = super().app()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            token = request_id.set(str(scope.get("labs.request_id", "")))
            try:
                await inner(scope, receive, send)
            finally:
                request_id.reset(token)
        return app


def validate_body(body: Any, schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    problems = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if not problems:
        return
    listed = [{"path": list(e.absolute_path), "message": e.message,
               "validator": str(e.validator), "validator_value": e.validator_value}
              for e in problems]
    raise errors.InvalidObject("Provided object does not match schema: "
                               + "; ".join(f"{'/'.join(map(str, e['path'])) or 'body'}: "
                                           f"{e['message']}" for e in listed), listed)


def flag(call: Call, header: str, *params: str) -> bool:
    value = call.headers.get(header)
    for name in params:
        value = call.query.get(name, value)
    return yes_no(value, yes=TRUE, no=None, strip=True)


def caller(call: Call) -> Caller:
    """The caller's reach; the widening headers are for admins only (403 otherwise)."""
    ctx = call.context
    all_projects = flag(call, "x-auth-all-projects", "all_projects", "all_tenants")
    edit_managed = flag(call, "x-designate-edit-managed-records", "edit_managed_records")
    sudo = (call.headers.get("x-auth-sudo-project-id")
            or call.headers.get("x-auth-sudo-tenant-id"))
    if all_projects:
        call.enforce("dns:all_projects")
    if edit_managed:
        call.enforce("dns:edit_managed_records")
    if sudo:
        call.enforce("dns:sudo")
    return Caller(sudo or ctx.project_id, all_projects, ctx.is_admin, edit_managed,
                  None if sudo else ctx.project_label)


def list_query(accepted: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The query parameters of a list taking the filters ``accepted``, for the document."""
    return {"limit": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                                {"const": "max"}]},
            **query_strings("marker", "sort_key", "sort_dir", "all_projects", *accepted)}


def listing(call: Call, accepted: tuple[str, ...], sort_keys: tuple[str, ...]) -> Listing:
    return parse_listing(call.query, accepted, sort_keys,
                         ignored=("all_projects", "all_tenants", "edit_managed_records"))


def collection_links(call: Call, found: Page, last_id: str | None) -> dict[str, str]:
    """``self`` (this request's URL) and, when more follow, ``next``."""
    path = call.request.url.path.removeprefix(call.request.scope.get("root_path", ""))
    params = list(call.query.multi_items())
    query = urlencode(params)
    links = {"self": call.url(path) + (f"?{query}" if query else "")}
    if found.more and last_id is not None:
        links["next"] = call.url(path) + "?" + next_page_query(params, last_id)
    return links
