"""Server actions (reboot, stop, start, pause, lock, console output, ...), metadata, tags
and the record of instance actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import BadRequest, NotFound
from labs.common.http import Api, Call, Reply, validate
from labs.compute.api import server_schemas as schemas
from labs.compute.api.network_schemas import SERVER_ACTIONS
from labs.compute.api.routes import floating_ips, move_actions, security_groups
from labs.compute.api.routes import server_views as views
from labs.compute.api.routes.action_table import Action, Handler, body_schema, dispatch
from labs.compute.api.service import ComputeService


def console_length(value: Any) -> int | None:
    if value is None:
        return None
    length = int(value)
    if length < -1:
        raise BadRequest("Invalid input: length must be -1 (all) or more.")
    return None if length == -1 else length


def simple(operation: Callable[[RequestContext, str], None]) -> Handler:
    """An action that reads no value (Nova ignores what the body holds)."""
    def handle(call: Call, ctx: RequestContext, server_id: str, args: Any) -> None:
        operation(ctx, server_id)
    return handle


def action_table(service: ComputeService) -> dict[str, Action]:
    """Every server action Labs has, by the name Nova gives it."""
    actions = service.actions

    def reboot(call: Call, ctx: RequestContext, server_id: str, args: Any) -> None:
        actions.reboot(ctx, server_id, hard=args["type"].upper() == "HARD")

    def rebuild(call: Call, ctx: RequestContext, server_id: str, args: Any) -> Reply:
        row = actions.rebuild(ctx, server_id, args["imageRef"].rstrip("/").rsplit("/", 1)[-1],
                              {k: v for k, v in args.items()
                               if k in ("name", "metadata", "description", "accessIPv4",
                                        "accessIPv6")})
        return Reply({"server": views.detail(call, row, admin=ctx.is_admin)}, status=202)

    def create_image(call: Call, ctx: RequestContext, server_id: str, args: Any) -> Reply:
        image_id = actions.create_image(ctx, server_id, args["name"],
                                        args.get("metadata") or {})
        if call.at_least(2, 45):
            return Reply({"image_id": image_id}, status=202)
        url = service.servers.images.upload_url() or ""
        return Reply(None, status=202, headers={"Location": f"{url}/v2/images/{image_id}"})

    def lock(call: Call, ctx: RequestContext, server_id: str, args: Any) -> None:
        reason = None
        if call.at_least(2, 73):  # before, Nova reads no value
            validate(args, schemas.LOCK_V2_73)
            reason = (args or {}).get("locked_reason")
        actions.lock(ctx, server_id, reason)

    def console(call: Call, ctx: RequestContext, server_id: str, args: Any) -> Reply:
        output = actions.console_output(ctx, server_id, console_length(args.get("length")))
        return Reply({"output": output}, status=200)

    return {
        "reboot": Action(reboot, schemas.REBOOT),
        "rebuild": Action(rebuild, schemas.REBUILD),
        "createImage": Action(create_image, schemas.CREATE_IMAGE),
        "os-stop": Action(simple(actions.stop)),
        "os-start": Action(simple(actions.start)),
        "lock": Action(lock),
        "unlock": Action(simple(actions.unlock)),
        "pause": Action(simple(actions.pause), policy="compute:servers:pause"),
        "unpause": Action(simple(actions.unpause), policy="compute:servers:pause"),
        "os-getConsoleOutput": Action(console, schemas.CONSOLE_OUTPUT),
        **move_actions.table(service),
        **network_actions(service),
    }


def network_actions(service: ComputeService) -> dict[str, Action]:
    """addSecurityGroup, removeSecurityGroup, addFloatingIp, removeFloatingIp."""
    def groups(call: Call, ctx: RequestContext, server_id: str, args: Any) -> None:
        (name, _), = call.body.items()
        security_groups.server_action(service, ctx, server_id, name, args)

    def floating(call: Call, ctx: RequestContext, server_id: str, args: Any) -> None:
        (name, _), = call.body.items()
        floating_ips.server_action(service, call, ctx, server_id, name, args)

    return {name: Action(groups if "SecurityGroup" in name else floating, schema)
            for name, schema in SERVER_ACTIONS.items()}


def register(api: Api, service: ComputeService) -> None:
    actions = service.actions
    table = action_table(service)

    @api.post("/v2.1/servers/{server_id}/action", status=202, schema=body_schema(table))
    def server_action(call: Call) -> Reply | None:
        """One action, named by the body's one key (see action_table)."""
        return dispatch(table, call, call.params["server_id"])

    # -- metadata ----------------------------------------------------------------------
    @api.get("/v2.1/servers/{server_id}/metadata")
    def list_metadata(call: Call) -> dict[str, Any]:
        """The server's metadata."""
        ctx = call.enforce("compute:servers:show")
        return {"metadata": actions.metadata(ctx, call.params["server_id"])}

    @api.post("/v2.1/servers/{server_id}/metadata", schema=schemas.METADATA_BODY)
    def update_metadata(call: Call) -> dict[str, Any]:
        """Add or change metadata items."""
        ctx = call.enforce("compute:servers:update")
        return {"metadata": actions.set_metadata(ctx, call.params["server_id"],
                                                 call.body["metadata"], replace=False)}

    @api.put("/v2.1/servers/{server_id}/metadata", schema=schemas.METADATA_BODY)
    def replace_metadata(call: Call) -> dict[str, Any]:
        """Replace all metadata."""
        ctx = call.enforce("compute:servers:update")
        return {"metadata": actions.set_metadata(ctx, call.params["server_id"],
                                                 call.body["metadata"], replace=True)}

    @api.get("/v2.1/servers/{server_id}/metadata/{key}")
    def show_metadata_item(call: Call) -> dict[str, Any]:
        """One metadata item."""
        ctx = call.enforce("compute:servers:show")
        items = actions.metadata(ctx, call.params["server_id"])
        key = call.params["key"]
        if key not in items:
            raise NotFound(f"Metadata item was not found: {key}")
        return {"meta": {key: items[key]}}

    @api.put("/v2.1/servers/{server_id}/metadata/{key}", schema=schemas.META_ITEM)
    def set_metadata_item(call: Call) -> dict[str, Any]:
        """Set one metadata item."""
        ctx = call.enforce("compute:servers:update")
        key = call.params["key"]
        if set(call.body["meta"]) != {key}:
            raise BadRequest("Request body and URI mismatch")
        actions.set_metadata(ctx, call.params["server_id"], call.body["meta"], replace=False)
        return {"meta": call.body["meta"]}

    @api.delete("/v2.1/servers/{server_id}/metadata/{key}")
    def delete_metadata_item(call: Call) -> None:
        """Remove one metadata item."""
        ctx = call.enforce("compute:servers:update")
        actions.delete_metadata(ctx, call.params["server_id"], call.params["key"])

    # -- tags (2.26) ---------------------------------------------------------------------
    def tags_version(call: Call) -> None:
        if not call.at_least(2, 26):
            raise NotFound("Server tags need microversion 2.26 or later.")

    @api.get("/v2.1/servers/{server_id}/tags")
    def list_tags(call: Call) -> dict[str, Any]:
        """The server's tags."""
        tags_version(call)
        ctx = call.enforce("compute:servers:show")
        return {"tags": actions.tags(ctx, call.params["server_id"])}

    @api.put("/v2.1/servers/{server_id}/tags", schema=schemas.TAGS_BODY)
    def replace_tags(call: Call) -> dict[str, Any]:
        """Replace all tags."""
        tags_version(call)
        ctx = call.enforce("compute:servers:update")
        return {"tags": actions.set_tags(ctx, call.params["server_id"], call.body["tags"])}

    @api.delete("/v2.1/servers/{server_id}/tags")
    def delete_tags(call: Call) -> None:
        """Remove all tags."""
        tags_version(call)
        ctx = call.enforce("compute:servers:update")
        actions.delete_tag(ctx, call.params["server_id"], None)

    @api.get("/v2.1/servers/{server_id}/tags/{tag}", status=204)
    def check_tag(call: Call) -> None:
        """204 if the server has the tag, else 404."""
        tags_version(call)
        ctx = call.enforce("compute:servers:show")
        tag = call.params["tag"]
        if tag not in actions.tags(ctx, call.params["server_id"]):
            raise NotFound(f"Tag '{tag}' could not be found for instance "
                           f"{call.params['server_id']}.")

    @api.put("/v2.1/servers/{server_id}/tags/{tag}", status=201)
    def add_tag(call: Call) -> Reply:
        """Add one tag."""
        tags_version(call)
        ctx = call.enforce("compute:servers:update")
        tag = call.params["tag"]
        if not 1 <= len(tag) <= 60 or "," in tag or "/" in tag:
            raise BadRequest(f"Invalid tag {tag!r}: 1 to 60 characters, no ',' or '/'.")
        actions.set_tags(ctx, call.params["server_id"], [tag], add=True)
        url = call.url(f"/v2.1/servers/{call.params['server_id']}/tags/{tag}")
        return Reply(None, status=201, headers={"Location": url})

    @api.delete("/v2.1/servers/{server_id}/tags/{tag}")
    def delete_tag(call: Call) -> None:
        """Remove one tag."""
        tags_version(call)
        ctx = call.enforce("compute:servers:update")
        actions.delete_tag(ctx, call.params["server_id"], call.params["tag"])

    # -- instance actions ----------------------------------------------------------
    @api.get("/v2.1/servers/{server_id}/os-instance-actions")
    def list_instance_actions(call: Call) -> dict[str, Any]:
        """Who did what to the server, newest first."""
        ctx = call.enforce("compute:instance_actions")
        rows = actions.list_actions(ctx, call.params["server_id"])
        return {"instanceActions": [views.action(call, r) for r in rows]}

    @api.get("/v2.1/servers/{server_id}/os-instance-actions/{request_id}")
    def show_instance_action(call: Call) -> dict[str, Any]:
        """One action with its events."""
        ctx = call.enforce("compute:instance_actions")
        row, events = actions.get_action(ctx, call.params["server_id"],
                                         call.params["request_id"])
        body = views.action(call, row)
        body["events"] = [views.event(call, e, ctx.is_admin) for e in events]
        return {"instanceAction": body}
