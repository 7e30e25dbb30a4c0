"""Request ids (``X-OpenStack-Request-ID``) and the access log."""

from __future__ import annotations

import logging
import random
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("labs.access")

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
