"""The server actions that move a server or take it off its host: resize and cold
migration (with confirmResize and revertResize), live migration, shelving (shelve,
shelveOffload, unshelve), and the snapshot-like createBackup and trigger_crash_dump, as
rows of the action table (see action_table)."""

from __future__ import annotations

from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import BadRequest
from labs.common.http import Call, Reply
from labs.compute.api import server_schemas as schemas
from labs.compute.api.routes import server_moves, server_shelve
from labs.compute.api.routes.action_table import Action
from labs.compute.api.service import ComputeService


def check_live_migration(call: Call, args: dict[str, Any]) -> None:
    """os-migrateLive's arguments by microversion, as Nova's schemas have them."""
    if not call.at_least(2, 25):
        if args["block_migration"] == "auto":
            raise BadRequest("Invalid input: block_migration 'auto' needs microversion 2.25.")
        if "disk_over_commit" not in args or "host" not in args:
            raise BadRequest("Invalid input: 'disk_over_commit' and 'host' are required.")
    elif "disk_over_commit" in args:
        raise BadRequest("Invalid input: Additional properties are not allowed "
                         "('disk_over_commit' was unexpected)")
    elif "host" not in args:
        raise BadRequest("Invalid input: 'host' is a required property")
    if "force" in args and not (call.at_least(2, 30) and not call.at_least(2, 68)):
        raise BadRequest("Invalid input: Additional properties are not allowed "
                         "('force' was unexpected)")



def table(service: ComputeService) -> dict[str, Action]:
    actions = service.actions

    def live_migrate(call: Call, ctx: RequestContext, server_id: str, args: Any) -> None:
        check_live_migration(call, args)
        actions.live_migrate(ctx, server_id, args.get("host"), bool(args.get("force")))

    def shelving(call: Call, ctx: RequestContext, server_id: str, args: Any) -> Reply | None:
        (name, _), = call.body.items()
        return server_shelve.server_action(service, call, server_id, name, args)

    def moving(call: Call, ctx: RequestContext, server_id: str, args: Any) -> Reply | None:
        (name, _), = call.body.items()
        return server_moves.server_action(service, call, ctx, server_id, name, args)

    return {
        **{name: Action(moving, schema) for name, schema in schemas.MOVE_ACTIONS.items()},
        "os-migrateLive": Action(live_migrate, schemas.LIVE_MIGRATE,
                                 policy="compute:servers:migrate_live"),
        **{name: Action(shelving, schema) for name, schema in schemas.SHELVE_ACTIONS.items()},
    }
