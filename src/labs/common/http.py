"""HTTP glue shared by every Labs API: routes, handlers, errors, request ids.

A service declares its routes on an ``Api``; each handler is a plain function
that takes a ``Call`` and returns the body (a dict), a ``Reply`` or ``None``
(204). The four steps of a handler are: read what the call carries (already
validated against the route's JSON schema), enforce a named policy rule, call
one service method, render. Handlers run in a worker thread, together with
token validation, so a request costs one thread hop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import jsonschema
from anyio import from_thread
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labs.common.context import Authenticator, RequestContext
from labs.common.errors import (
    BadRequest,
    LabsError,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
)
from labs.common.numbers import is_digits
from labs.common.policy import Policy, Target

log = logging.getLogger("labs.http")
access_log = logging.getLogger("labs.access")

#: Keystone's default max_request_body_size.
DEFAULT_MAX_BODY = 114688
#: Deepest nesting of objects and arrays in a body (MariaDB's JSON columns stop at 32).
MAX_DEPTH = 32

ErrorRenderer = Callable[[LabsError], dict[str, Any]]


def keystone_error(err: LabsError) -> dict[str, Any]:
    """``{"error": {"code", "title", "message"}}``, as identity and image answer."""
    return {"error": {"code": err.code, "title": err.title, "message": err.message}}


def glance_error(err: LabsError) -> dict[str, Any]:
    """``{"code": "404 Not Found", "title", "message"}``, as the image service answers."""
    return {"code": f"{err.code} {err.title}", "title": err.title, "message": err.message}


def nova_error(err: LabsError) -> dict[str, Any]:
    """``{"itemNotFound": {"code", "message"}}``, as compute answers."""
    return {err.nova_key: {"code": err.code, "message": err.message}}


@dataclass
class Reply:
    """A response with a status and headers other than the route's default."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Version = tuple[int, int]


@dataclass(frozen=True)
class Microversions:
    """An API's microversion range (``OpenStack-API-Version: compute 2.47``)."""

    service: str
    minimum: Version
    maximum: Version
    #: The header older clients send instead (``X-OpenStack-Nova-API-Version``).
    legacy_header: str | None = None

    @staticmethod
    def text(version: Version) -> str:
        return f"{version[0]}.{version[1]}"

    def requested(self, headers: Mapping[str, str]) -> Version:
        """The version a request asks for: the minimum when it names none."""
        wanted: str | None = None
        for item in headers.get("openstack-api-version", "").split(","):
            parts = item.strip().split()
            if len(parts) == 2 and parts[0].lower() == self.service:
                wanted = parts[1]
        if wanted is None and self.legacy_header:
            wanted = headers.get(self.legacy_header.lower())
        if wanted is None or not wanted.strip():
            return self.minimum
        wanted = wanted.strip()
        if wanted.lower() == "latest":
            return self.maximum
        major, dot, minor = wanted.partition(".")
        if not (dot and is_digits(major) and is_digits(minor)):
            raise BadRequest(f"API Version String {wanted} is of invalid format. Must be of "
                             "format MajorNum.MinorNum.")
        version = (int(major), int(minor))
        if not self.minimum <= version <= self.maximum:
            raise NotAcceptable(f"Version {wanted} is not supported by the API. Minimum is "
                                f"{self.text(self.minimum)} and maximum is "
                                f"{self.text(self.maximum)}.")
        return version

    def headers(self, version: Version) -> list[tuple[str, str]]:
        out = [("OpenStack-API-Version", f"{self.service} {self.text(version)}"),
               ("Vary", "OpenStack-API-Version")]
        if self.legacy_header:
            out += [(self.legacy_header, self.text(version)), ("Vary", self.legacy_header)]
        return out


class Call:
    """One API request as a handler sees it."""

    def __init__(self, request: Request, body: Any, api: Api, request_id: str) -> None:
        self.request = request
        self.body = body
        self.api = api
        self.request_id = request_id
        self.params: Mapping[str, str] = request.path_params
        self.query = request.query_params
        self._context: RequestContext | None = None
        #: The microversion asked for (APIs without microversions: (0, 0)).
        self.version: Version = (0, 0)

    def at_least(self, major: int, minor: int) -> bool:
        """Whether the request's microversion is ``major.minor`` or later."""
        return self.version >= (major, minor)

    @property
    def headers(self) -> Mapping[str, str]:
        return self.request.headers

    @property
    def token(self) -> str | None:
        return self.request.headers.get("x-auth-token")

    @property
    def context(self) -> RequestContext:
        """The authenticated caller; 401 when the request carries no valid token."""
        if self._context is None:
            token = self.token
            if not token:
                raise Unauthorized("The request you have made requires authentication.")
            if self.api.authenticator is None:
                raise Unauthorized("This API has no authenticator configured.")
            # the token's context is cached across requests: this request's id is its own
            self._context = replace(self.api.authenticator.authenticate(token),
                                    request_id=self.request_id)
        return self._context

    def enforce(self, rule: str, target: Target | None = None) -> RequestContext:
        """Authenticate, then check a named policy rule; returns the caller."""
        ctx = self.context
        if self.api.policy is None:
            raise RuntimeError("API has no policy")
        self.api.policy.enforce(rule, ctx, target)
        return ctx

    def chunks(self, batch: int = 1 << 20, read_ahead: int = 8) -> Iterator[bytes]:
        """The request body, streamed in batches of about ``batch`` bytes.

        For ``stream`` routes only. The event loop keeps receiving while the handler's
        thread works on earlier batches, up to ``read_ahead`` batches ahead, so memory
        stays bounded by ``batch * read_ahead`` whatever the body's size. A client that
        goes away mid-body ends the iteration with ``ClientGone``.
        """
        batches: asyncio.Queue[bytes | Exception | None] = asyncio.Queue(read_ahead)

        async def receive() -> None:
            parts: list[bytes] = []
            size = 0
            try:
                async for part in self.request.stream():
                    parts.append(part)
                    size += len(part)
                    if size >= batch:
                        await batches.put(b"".join(parts))
                        parts, size = [], 0
                if parts:
                    await batches.put(b"".join(parts))
                await batches.put(None)
            except ClientDisconnect:
                await batches.put(ClientGone("The client closed the connection before "
                                             "sending all the data."))
            except Exception as exc:  # handed to the handler's thread, which raises it
                await batches.put(exc)

        def start() -> tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]:
            return asyncio.get_running_loop(), asyncio.ensure_future(receive())

        loop, receiver = from_thread.run_sync(start)
        try:
            while True:
                data = from_thread.run(batches.get)
                if data is None:
                    return
                if isinstance(data, Exception):
                    raise data
                yield data
        finally:
            # a handler that stops early leaves this to the garbage collector, in any
            # thread, perhaps after the loop has closed
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(receiver.cancel)

    def base_url(self) -> str:
        """The URL this API is served under, e.g. ``http://host:5000/identity``."""
        scope = self.request.scope
        root = scope.get("root_path", "")
        host = self.request.headers.get("host")
        if not host:
            server = scope.get("server") or ("localhost", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}{root}"

    def url(self, path: str) -> str:
        return self.base_url() + path

    def flag(self, name: str) -> bool:
        """A query flag as OpenStack reads them (``?nocatalog``, ``?effective=true``)."""
        if name not in self.query:
            return False
        return self.query[name].lower() not in ("0", "false", "no", "off")


class ClientGone(BadRequest):
    """The client went away in the middle of sending a body."""


Handler = Callable[[Call], Any]


@dataclass
class Streamed:
    """A response whose body is produced chunk by chunk (image downloads)."""

    chunks: Iterable[bytes]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/octet-stream"


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


#: The paging parameters of most lists (``?limit=&marker=``).
PAGING: dict[str, dict[str, Any]] = {"limit": {"type": "integer", "minimum": 0},
                                     "marker": {"type": "string"}}


def query_strings(*names: str) -> dict[str, dict[str, Any]]:
    """Query parameters that take any string (filters by name, id, ...)."""
    return {name: {"type": "string"} for name in names}


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
        if endpoint.schema is None:
            return None
        if not raw:
            if jsonschema.Draft202012Validator(endpoint.schema).is_valid(None):
                return None  # a body the route lets the client leave out
            raise BadRequest("The request body is empty; a JSON object is expected.")
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
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
        validate(body, endpoint.schema)
        return body

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
        paths: dict[str, dict[str, Any]] = {}
        seen: dict[str, int] = {}
        for ep in self.endpoints:
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
        return {"openapi": "3.1.0", "info": {"title": f"Labs {self.name}", "version": "1"},
                "paths": paths}


#: MariaDB's "deadlock found" and "lock wait timeout exceeded".
CONTENTION_ERRORS = frozenset({1205, 1213})


def is_contention(exc: DBAPIError) -> bool:
    """A transaction lost to others (and was rolled back whole): safe to try again."""
    code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    return code in CONTENTION_ERRORS or "database is locked" in str(exc.orig)


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


#: What oslo.context accepts as a request id from a client.
REQUEST_ID = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def request_id_of(scope: Scope) -> str:
    """The client's ``X-OpenStack-Request-ID`` when well-formed, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-openstack-request-id":
            sent = value.decode("latin-1")
            if REQUEST_ID.fullmatch(sent):
                return str(sent)
            break
    # unique, not secret: a fast pseudo-random UUID rather than one from os.urandom
    return f"req-{uuid.UUID(int=random.getrandbits(128), version=4)}"


class RequestIdMiddleware:
    """Gives every request an ``x-openstack-request-id`` (the client's own, when it sent a
    well-formed one) and writes one access-log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope["labs.request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-openstack-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client") or ("-", 0)
                query = scope.get("query_string", b"").decode("latin-1")
                access_log.info("%s %s %s%s %d %.1fms %s", client[0], scope["method"],
                                scope["path"],
                                f"?{query}" if query else "", status,
                                (time.perf_counter() - started) * 1000, request_id)
