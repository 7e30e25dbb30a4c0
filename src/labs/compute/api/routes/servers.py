"""Servers: create, list, show, update, delete."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from labs.common.errors import BadRequest
from labs.common.http import Api, Call, Reply, yes_no
from labs.compute import states
from labs.compute.api import server_schemas as schemas
from labs.compute.api.access_ips import access_ips
from labs.compute.api.routes import server_views as views
from labs.compute.api.routes.views import next_links, page_limit
from labs.compute.api.servers import ServerFilter, ServerRequest
from labs.compute.api.service import ComputeService


def last_segment(ref: Any) -> str:
    """``imageRef`` and ``flavorRef`` may be ids or links to them."""
    return str(ref).rstrip("/").rsplit("/", 1)[-1]


def count(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid {name}: {value!r} is not an integer.") from None
    if number < 1:
        raise BadRequest(f"Invalid {name}: it must be at least 1.")
    return number


def server_request(call: Call) -> ServerRequest:
    body = call.body["server"]
    hints = call.body.get("os:scheduler_hints") or call.body.get(
        "OS-SCH-HNT:scheduler_hints") or {}
    networks = body.get("networks")
    if call.at_least(2, 37):
        if networks is None:
            raise BadRequest("Invalid input: 'networks' is a required property (use 'auto' "
                             "or 'none' when you do not care).")
    elif isinstance(networks, str):
        raise BadRequest(f"Invalid input for field/attribute networks: {networks!r} needs "
                         "microversion 2.37 or later.")
    image_ref = body.get("imageRef")
    if not image_ref:
        for mapping in body.get("block_device_mapping_v2") or []:
            if mapping.get("source_type") == "image" and mapping.get("boot_index") in (0, "0"):
                image_ref = mapping.get("uuid")
    if not image_ref:
        raise BadRequest("Can not find requested image: Labs boots servers from images "
                         "(give imageRef).")
    min_count = count(body.get("min_count", 1), "min_count")
    max_count = count(body.get("max_count", min_count), "max_count")
    if min_count > max_count:
        raise BadRequest("min_count must be <= max_count")
    group = hints.get("group")
    if isinstance(group, list):
        group = group[0] if group else None
    config_drive = body.get("config_drive", False)
    return ServerRequest(
        name=body["name"], image_ref=last_segment(image_ref),
        flavor_ref=last_segment(body["flavorRef"]), key_name=body.get("key_name"),
        networks=networks, user_data=body.get("user_data"),
        metadata=body.get("metadata") or {}, availability_zone=body.get("availability_zone"),
        security_groups=[g["name"] for g in body.get("security_groups") or []],
        min_count=min_count, max_count=max_count, group_id=group, scheduler_hints=hints,
        description=body.get("description"), tags=body.get("tags") or [],
        config_drive=config_drive in (True, "true", "True", "1"), **access_ips(body))


def server_filter(call: Call, admin: bool) -> ServerFilter:
    q = call.query
    status = q.get("status")
    if status is not None:
        status = status.upper()
        if status not in states.STATUSES and call.at_least(2, 38):
            raise BadRequest(f"Invalid status value: {q['status']}")
    since = q.get("changes-since")
    changes_since = None
    if since:
        try:
            changes_since = datetime.fromisoformat(since.replace("Z", "+00:00"))
            if changes_since.tzinfo is not None:
                changes_since = changes_since.astimezone(UTC).replace(tzinfo=None)
        except (ValueError, OverflowError):  # overflow: a zone moving it past year 1 or 9999
            raise BadRequest(f"Invalid changes-since value: {since}") from None
    all_tenants = yes_no(q.get("all_tenants"), yes=None, no=("0", "false", "f", "no", "off"))
    return ServerFilter(
        name=q.get("name"), status=status, image=q.get("image"), flavor=q.get("flavor"),
        changes_since=changes_since, host=q.get("host") if admin else None,
        project_id=q.get("project_id") or q.get("tenant_id"), all_tenants=all_tenants,
        deleted=yes_no(q.get("deleted"), yes=("true", "1"), no=None) or None,
        tags=[t for t in q.get("tags", "").split(",") if t], key_name=q.get("key_name"),
        availability_zone=q.get("availability_zone"),
        locked=yes_no(q.get("locked"), yes=("true", "1"), no=None, absent=None),
        access_ip_v4=q.get("access_ip_v4") if admin else None,
        access_ip_v6=q.get("access_ip_v6") if admin else None)


def register(api: Api, service: ComputeService) -> None:
    servers = service.servers

    def listing(call: Call, detailed: bool) -> dict[str, Any]:
        ctx = call.enforce("compute:servers:list")
        where = server_filter(call, ctx.is_admin)
        if where.all_tenants:
            call.enforce("compute:servers:all_tenants")
        max_limit = service.options.max_list_limit
        rows = servers.list_servers(ctx, where, page_limit(call, max_limit),
                                    call.query.get("marker"))
        up = service.hosts.hosts_up() if detailed and ctx.is_admin else set()
        body: dict[str, Any] = {"servers": [
            views.detail(call, r, admin=ctx.is_admin, host_up=r.host in up) if detailed
            else views.brief(call, r) for r in rows]}
        following = next_links(call, "servers/detail" if detailed else "servers", len(rows),
                               rows[-1].id if rows else None, max_limit)
        if following:
            body["servers_links"] = following
        return body

    @api.get("/v2.1/servers", query=views.SERVER_FILTERS)
    def list_servers(call: Call) -> dict[str, Any]:
        """Servers: id, name and links (filters: name regex, status, image, flavor,
        changes-since, all_tenants for admins; paging with limit and marker)."""
        return listing(call, detailed=False)

    @api.get("/v2.1/servers/detail", query=views.SERVER_FILTERS)
    def list_servers_detail(call: Call) -> dict[str, Any]:
        """Servers in full (same filters as the short list)."""
        return listing(call, detailed=True)

    @api.post("/v2.1/servers", status=202, schema=schemas.CREATE_SERVER)
    def create_server(call: Call) -> Reply:
        """Create one server (or min_count..max_count of them)."""
        ctx = call.enforce("compute:servers:create")
        rows, reservation = servers.create(ctx, server_request(call))
        if str(call.body["server"].get("return_reservation_id", "")).lower() in ("true", "1"):
            return Reply({"reservation_id": reservation}, status=202)
        first = rows[0]
        return Reply({"server": views.created(call, first, secrets.token_urlsafe(9))},
                     status=202, headers={"Location": call.url(f"/v2.1/servers/{first.id}")})

    @api.get("/v2.1/servers/{server_id}")
    def show_server(call: Call) -> dict[str, Any]:
        """One server."""
        ctx = call.enforce("compute:servers:show")
        row = servers.get(ctx, call.params["server_id"])
        groups = [row.server_group_id] if row.server_group_id else []
        up = service.hosts.is_up(row.host) if ctx.is_admin and row.host else None
        return {"server": views.detail(call, row, admin=ctx.is_admin, host_up=up,
                                       groups=groups)}

    @api.put("/v2.1/servers/{server_id}", schema=schemas.UPDATE_SERVER)
    def update_server(call: Call) -> dict[str, Any]:
        """Rename a server, change its access IPs or its description (2.19)."""
        ctx = call.enforce("compute:servers:update")
        changes = dict(call.body["server"])
        if "description" in changes and not call.at_least(2, 19):
            raise BadRequest("Invalid input: 'description' needs microversion 2.19 or later.")
        row = servers.update(ctx, call.params["server_id"], changes)
        return {"server": views.detail(call, row, admin=ctx.is_admin)}

    @api.delete("/v2.1/servers/{server_id}")
    def delete_server(call: Call) -> None:
        """Delete a server, whatever its state."""
        ctx = call.enforce("compute:servers:delete")
        servers.delete(ctx, call.params["server_id"])
