"""What a handler sees (``Call``: one API request) and what it may return besides a
body (``Reply``, ``Streamed``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from anyio import from_thread
from starlette.requests import ClientDisconnect, Request

from labs.common.access_rules import permits
from labs.common.context import RequestContext
from labs.common.errors import BadRequest, Unauthorized
from labs.common.http.microversions import Version
from labs.common.http.query import yes_no
from labs.common.policy import Target

if TYPE_CHECKING:
    from labs.common.http.routing import Api

@dataclass
class Reply:
    """A response with a status and headers other than the route's default."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)



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
            ctx = self.api.authenticator.authenticate(token)
            if ctx.access_rules is not None and not permits(
                    ctx.access_rules, self.api.name, self.request.method, self.service_path()):
                raise Unauthorized("The application credential's access rules do not allow "
                                   "this request.")
            self._context = replace(ctx, request_id=self.request_id)
        return self._context

    def service_path(self) -> str:
        """The path inside the API's root, as access rules name it (``/v2.1/servers``)."""
        path: str = self.request.scope["path"]
        root: str = self.request.scope.get("root_path", "")
        return path[len(root):] if root and path.startswith(root) else path

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
        return yes_no(self.query.get(name), yes=None)


class ClientGone(BadRequest):
    """The client went away in the middle of sending a body."""


@dataclass
class Streamed:
    """A response whose body is produced chunk by chunk (image downloads)."""

    chunks: Iterable[bytes]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/octet-stream"

