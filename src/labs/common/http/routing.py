"""Routes: a service declares its routes on an ``Api``, which turns them into one ASGI
app.

Each handler is a plain function that takes a ``Call`` and returns the body (a dict), a
``Reply`` or ``None`` (204). The four steps of a handler are: read what the call carries
(already validated against the route's JSON schema), enforce a named policy rule, call
one service method, render. Handlers run in a worker thread, together with token
validation, so a request costs one thread hop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from labs.common.context import Authenticator
from labs.common.errors import (
    LabsError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
)
from labs.common.http.body import read_json
from labs.common.http.call import Call, Reply, Streamed
from labs.common.http.errors import ErrorRenderer, is_contention, keystone_error
from labs.common.http.microversions import Microversions
from labs.common.http.openapi import document
from labs.common.numbers import is_digits
from labs.common.policy import Policy

log = logging.getLogger("labs.http")

#: Keystone's default max_request_body_size.
DEFAULT_MAX_BODY = 114688

Handler = Callable[[Call], Any]


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Handler
    status: int
    schema: dict[str, Any] | None
    summary: str
    stream: bool = False
    public: bool = False
    #: The query parameters the handler reads: name -> JSON schema (for the document).
    query: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    #: The body's media type in the document (any JSON type is read as JSON).
    media_type: str = "application/json"


class Api:
    """The routes of one service, turned into one ASGI app."""

    def __init__(
        self,
        name: str,
        *,
        render_error: ErrorRenderer = keystone_error,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.name = name
        self.render_error = render_error
        self.max_body = max_body
        self.authenticator: Authenticator | None = None
        self.policy: Policy | None = None
        self.microversions: Microversions | None = None
        #: A service's own name for the request id header (Nova: x-compute-request-id),
        #: sent beside x-openstack-request-id.
        self.request_id_header: str | None = None
        self.endpoints: list[Endpoint] = []

    def route(
        self, method: str, path: str, *, status: int = 200,
        schema: dict[str, Any] | None = None, summary: str = "", stream: bool = False,
        public: bool = False, query: Mapping[str, dict[str, Any]] | None = None,
        media_type: str = "application/json",
    ) -> Callable[[Handler], Handler]:
        """Register a handler.

        Every route needs a valid token unless ``public``; with ``stream`` the handler
        reads the body itself (``Call.chunks``) instead of getting parsed JSON. ``query``
        names the query parameters the handler reads, for the OpenAPI document (the
        handler still checks their values itself).
        """
        def register(handler: Handler) -> Handler:
            self.endpoints.append(Endpoint(method.upper(), path, handler, status, schema,
                                           summary or (handler.__doc__ or "").strip(), stream,
                                           public, dict(query or {}), media_type))
            return handler
        return register

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, status=204, **kw)

    def head(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("HEAD", path, **kw)

    # -- turning routes into an app -------------------------------------------------

    def error_response(self, err: LabsError, headers: dict[str, str] | None = None) -> Response:
        extra = dict(headers or {})
        if err.code == 401:
            extra.setdefault("WWW-Authenticate", 'Keystone uri="/identity"')
        return JSONResponse(self.render_error(err), status_code=err.code, headers=extra)

    async def _read_raw(self, request: Request) -> bytes:
        """The whole body, refused with 413 past ``max_body``."""
        length = request.headers.get("content-length")
        if length is not None and is_digits(length) and int(length) > self.max_body:
            raise PayloadTooLarge(f"Request body is larger than {self.max_body} bytes.")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise PayloadTooLarge(f"Request body is larger than {self.max_body} bytes.")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _parse_body(request: Request, raw: bytes, endpoint: Endpoint) -> Any:
        """The body as JSON, checked against the route's schema (None if it has none)."""
        return read_json(request.headers.get("content-type", "application/json"), raw,
                         endpoint.schema)

    def _endpoint_app(self, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        versions = None if endpoint.public else self.microversions

        async def app(request: Request) -> Response:
            request_id = request.scope.get("labs.request_id", "")
            version = versions.minimum if versions else (0, 0)
            try:
                if versions is not None:
                    version = versions.requested(request.headers)
                raw = b"" if endpoint.stream else await self._read_raw(request)
                call = Call(request, None, self, request_id)
                call.version = version
                response = self._render(await run_in_threadpool(self._run, endpoint, call, raw),
                                        endpoint)
            except LabsError as err:
                if err.code >= 500:
                    log.error("%s %s failed: %s", request.method, request.url.path, err)
                response = self.error_response(err)
            if versions is not None:
                for name, value in versions.headers(version):
                    response.headers.append(name, value)
            if self.request_id_header and request_id:
                response.headers.append(self.request_id_header, request_id)
            return response
        return app

    def _run(self, endpoint: Endpoint, call: Call, raw: bytes) -> Any:
        """In a worker thread: authenticate (401 comes first), parse the body, handle."""
        try:
            if not endpoint.public:
                call.context  # noqa: B018 -- authenticates, or raises 401
            if not endpoint.stream:
                call.body = self._parse_body(call.request, raw, endpoint)
            return endpoint.handler(call)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                # the database went away under this request (a restart): nothing was
                # committed, and the pool already holds fresh connections for a retry
                raise ServiceUnavailable("The database connection was lost; nothing was "
                                         "changed. Try again.") from exc
            if is_contention(exc):
                raise ServiceUnavailable("The database was too busy with other requests to "
                                         "finish this one (a deadlock or a lock timeout); "
                                         "nothing was changed. Try again.") from exc
            raise

    @staticmethod
    def _render(result: Any, endpoint: Endpoint) -> Response:
        if isinstance(result, Response):
            return result
        if isinstance(result, Streamed):
            return StreamingResponse(result.chunks, status_code=result.status,
                                     headers=result.headers, media_type=result.media_type)
        status, headers = endpoint.status, {}
        if isinstance(result, Reply):
            status, headers, result = result.status, result.headers, result.body
        if result is None or status == 204 or endpoint.method == "HEAD":
            return Response(status_code=status, headers=headers)
        return JSONResponse(result, status_code=status, headers=headers)

    def app(self) -> ASGIApp:
        routes = [Route(path, self._endpoint_app(ep), methods=[ep.method])
                  for path, ep in ((e.path, e) for e in self.endpoints)]
        # Starlette adds HEAD to GET routes; explicit HEAD routes come first.
        routes.sort(key=lambda r: 0 if r.methods == {"HEAD"} else 1)

        async def not_found(request: Request, _exc: Exception) -> Response:
            return self.error_response(NotFound(f"The resource {request.url.path} was not found."))

        async def not_allowed(request: Request, _exc: Exception) -> Response:
            return self.error_response(
                MethodNotAllowed(f"The method {request.method} is not allowed for this resource."))

        async def crashed(request: Request, exc: Exception) -> Response:
            log.exception("unexpected error in %s %s", request.method, request.url.path)
            return self.error_response(LabsError("An unexpected error prevented the server "
                                                 "from fulfilling your request."))

        return Starlette(routes=routes, exception_handlers={
            404: not_found, 405: not_allowed, Exception: crashed})

    def openapi(self) -> dict[str, Any]:
        """An OpenAPI 3.1 document of every route, for clients and fuzzers."""
        return document(f"Labs {self.name}", self.endpoints)
