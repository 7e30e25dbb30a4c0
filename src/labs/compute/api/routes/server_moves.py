"""The resize and migrate actions of ``POST /servers/{id}/action``."""

from __future__ import annotations

from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import BadRequest
from labs.common.http import Call, Reply
from labs.compute.api.service import ComputeService

ACTIONS = frozenset({"resize", "confirmResize", "revertResize", "migrate"})


def server_action(service: ComputeService, call: Call, ctx: RequestContext, server_id: str,
                  name: str, args: Any) -> Reply | None:
    moves = service.moves
    if name == "migrate":
        call.enforce("compute:servers:migrate")
        if args is not None and not call.at_least(2, 56):
            raise BadRequest("Invalid input for field/attribute migrate. Value: "
                             f"{args!r}. {args!r} is not of type 'null' (a host needs "
                             "microversion 2.56).")
        moves.migrate(ctx, server_id, (args or {}).get("host"))
        return None
    call.enforce("compute:servers:resize")
    if name == "resize":
        moves.resize(ctx, server_id, str(args["flavorRef"]).rstrip("/").rsplit("/", 1)[-1])
    elif name == "confirmResize":
        moves.confirm(ctx, server_id)
        return Reply(None, status=204)
    else:
        moves.revert(ctx, server_id)
    return None
