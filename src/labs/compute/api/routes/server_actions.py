"""Server actions (reboot, stop, start, lock, console output), metadata, tags and the
record of instance actions."""

from __future__ import annotations

from typing import Any

from labs.common.errors import BadRequest, NotFound
from labs.common.http import Api, Call, Reply
from labs.compute.api import server_schemas as schemas
from labs.compute.api.routes import floating_ips, security_groups, server_moves
from labs.compute.api.routes import server_views as views
from labs.compute.api.service import ComputeService


def console_length(value: Any) -> int | None:
    if value is None:
        return None
    length = int(value)
    if length < -1:
        raise BadRequest("Invalid input: length must be -1 (all) or more.")
    return None if length == -1 else length


def register(api: Api, service: ComputeService) -> None:
    actions = service.actions

    @api.post("/v2.1/servers/{server_id}/action", status=202, schema=schemas.SERVER_ACTION)
    def server_action(call: Call) -> Reply | None:
        """reboot, rebuild, createImage, os-stop, os-start, lock, unlock,
        os-getConsoleOutput; addSecurityGroup, removeSecurityGroup, addFloatingIp,
        removeFloatingIp."""
        ctx = call.enforce("compute:servers:action")
        server_id = call.params["server_id"]
        (name, args), = call.body.items()
        if name == "reboot":
            actions.reboot(ctx, server_id, hard=args["type"].upper() == "HARD")
        elif name == "rebuild":
            row = actions.rebuild(ctx, server_id, args["imageRef"].rstrip("/").rsplit("/", 1)[-1],
                                  {k: v for k, v in args.items()
                                   if k in ("name", "metadata", "description")})
            return Reply({"server": views.detail(call, row, admin=ctx.is_admin)}, status=202)
        elif name == "createImage":
            image_id = actions.create_image(ctx, server_id, args["name"],
                                            args.get("metadata") or {})
            if call.at_least(2, 45):
                return Reply({"image_id": image_id}, status=202)
            url = service.servers.images.upload_url() or ""
            return Reply(None, status=202, headers={"Location": f"{url}/v2/images/{image_id}"})
        elif name == "os-stop":
            actions.stop(ctx, server_id)
        elif name == "os-start":
            actions.start(ctx, server_id)
        elif name == "lock":
            reason = (args or {}).get("locked_reason")
            if reason is not None and not call.at_least(2, 73):
                raise BadRequest("Invalid input: 'locked_reason' needs microversion 2.73.")
            actions.lock(ctx, server_id, reason)
        elif name == "unlock":
            actions.unlock(ctx, server_id)
        elif name == "os-getConsoleOutput":
            output = actions.console_output(ctx, server_id, console_length(args.get("length")))
            return Reply({"output": output}, status=200)
        elif name in ("addSecurityGroup", "removeSecurityGroup"):
            security_groups.server_action(service, ctx, server_id, name, args)
        elif name in ("addFloatingIp", "removeFloatingIp"):
            floating_ips.server_action(service, call, ctx, server_id, name, args)
        elif name in server_moves.ACTIONS:
            return server_moves.server_action(service, call, ctx, server_id, name, args)
        return None

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
