"""``POST /servers/<id>/remote-consoles`` (from 2.6): a URL to reach a server's console.

Labs offers no graphical or interactive console: its guests' serial output goes to a
ring buffer that ``os-getConsoleOutput`` reads. So every console type is answered as
Nova answers one its deployment has not enabled: 400 "Unavailable console type".
"""

from __future__ import annotations

from typing import Any

from labs.common.errors import BadRequest, Conflict, NotFound
from labs.common.http import Api, Call
from labs.compute.api import schemas
from labs.compute.api.service import ComputeService

_PROTOCOLS = ["vnc", "spice", "rdp", "serial"]
_TYPES = ["novnc", "xvpvnc", "rdp-html5", "spice-html5", "serial"]


def _body(protocols: list[str], types: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": {"remote_console": {
        "type": "object", "properties": {"protocol": {"enum": protocols},
                                         "type": {"enum": types}},
        "required": ["protocol", "type"], "additionalProperties": False}},
        "required": ["remote_console"], "additionalProperties": False}


#: Nova's request schemas: ``mks``/``webmks`` from 2.8, ``spice-direct`` from 2.99.
REMOTE_CONSOLE: schemas.Versioned = (
    ((2, 6), _body(_PROTOCOLS, _TYPES)),
    ((2, 8), _body([*_PROTOCOLS, "mks"], [*_TYPES, "webmks"])),
    ((2, 99), _body([*_PROTOCOLS, "mks"], [*_TYPES, "webmks", "spice-direct"])),
)


def register(api: Api, service: ComputeService) -> None:
    servers = service.servers

    @api.post("/v2.1/servers/{server_id}/remote-consoles", schema=REMOTE_CONSOLE[-1][1])
    def create_remote_console(call: Call) -> None:
        """A console URL: none is enabled in Labs (400 for each type)."""
        if not call.at_least(2, 6):
            raise NotFound("The resource could not be found.")
        ctx = call.enforce("compute:servers:action")
        body = schemas.check(call.body, REMOTE_CONSOLE, call.version)
        server_id = call.params["server_id"]
        row = servers.get(ctx, server_id)
        if not row.host:
            raise Conflict(f"Instance {server_id} is not ready")
        raise BadRequest(
            f"Unavailable console type {body['remote_console']['type']}.")
