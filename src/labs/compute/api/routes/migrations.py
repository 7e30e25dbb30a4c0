"""os-migrations and a server's live migrations under way (admins), as Nova shows them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from labs.common.errors import BadRequest, NotFound
from labs.common.http import PAGING, Api, Call, query_strings
from labs.common.numbers import is_digits
from labs.compute import models
from labs.compute.api.migrations import MigrationFilter
from labs.compute.api.routes.views import links, page_limit, timestamp
from labs.compute.api.service import ComputeService

FILTERS = {**PAGING, **query_strings(
    "host", "status", "instance_uuid", "migration_type", "source_compute", "hidden",
    "changes-since", "changes-before", "user_id", "project_id", "cell_name")}


def _time(call: Call, name: str) -> datetime | None:
    raw = call.query.get(name)
    if raw is None:
        return None
    try:  # overflow: a zone moving the moment past year 1 or 9999
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    except (ValueError, OverflowError):
        raise BadRequest(f"Invalid input for query parameters {name}. Value: {raw}.") from None


def migration(call: Call, row: models.Migration, server_id: str | None = None) -> dict[str, Any]:
    """One migration: os-migrations' shape, or (``server_id``) a server's."""
    body: dict[str, Any] = {
        "id": row.id, "status": row.status, "source_compute": row.source_compute,
        "source_node": row.source_node, "dest_compute": row.dest_compute,
        "dest_node": row.dest_node, "dest_host": row.dest_host,
        "created_at": timestamp(row.created_at), "updated_at": timestamp(row.updated_at)}
    if server_id is None:
        body.update(instance_uuid=row.instance_id, old_instance_type_id=row.old_flavor_id,
                    new_instance_type_id=row.new_flavor_id)
        if call.at_least(2, 23):
            body["migration_type"] = row.migration_type
            if row.migration_type == "live-migration" and row.status in (
                    "queued", "preparing", "running"):
                body["links"] = links(call, f"servers/{row.instance_id}/migrations",
                                      str(row.id))
    else:
        body["server_uuid"] = server_id
        for kind in ("memory", "disk"):
            for part in ("total", "processed", "remaining"):
                body[f"{kind}_{part}_bytes"] = getattr(row, f"{kind}_{part}")
    if call.at_least(2, 59):
        body["uuid"] = row.uuid
    if call.at_least(2, 80):
        body.update(user_id=row.user_id, project_id=row.project_id)
    return body


def register(api: Api, service: ComputeService) -> None:
    migrations = service.migrations

    @api.get("/v2.1/os-migrations", query=FILTERS)
    def list_migrations(call: Call) -> dict[str, Any]:
        """Every move (admins), newest first; filters and paging by microversion."""
        ctx = call.enforce("compute:migrations")
        q = call.query
        paged = call.at_least(2, 59)
        if not paged and any(k in q for k in ("limit", "marker", "changes-since")):
            raise BadRequest("Invalid input: limit, marker and changes-since need "
                             "microversion 2.59.")
        if "changes-before" in q and not call.at_least(2, 66):
            raise BadRequest("Invalid input: changes-before needs microversion 2.66.")
        if any(k in q for k in ("user_id", "project_id")) and not call.at_least(2, 80):
            raise BadRequest("Invalid input: user_id and project_id need microversion 2.80.")
        rows = migrations.list_migrations(ctx, MigrationFilter(
            host=q.get("host"), status=q.get("status"), instance_id=q.get("instance_uuid"),
            migration_type=q.get("migration_type"), source_compute=q.get("source_compute"),
            changes_since=_time(call, "changes-since"),
            changes_before=_time(call, "changes-before"), user_id=q.get("user_id"),
            project_id=q.get("project_id"), marker=q.get("marker") if paged else None,
            limit=page_limit(call, 1000) if paged else None))
        body: dict[str, Any] = {"migrations": [migration(call, r) for r in rows]}
        if paged and rows and q.get("limit") and len(rows) == page_limit(call, 1000):
            body["migrations_links"] = [{"rel": "next", "href": (
                f"{call.base_url()}/v2.1/os-migrations?limit={q['limit']}"
                f"&marker={rows[-1].uuid}")}]
        return body

    def server_migrations(call: Call, migration_id: int | None = None) -> list[Any]:
        if not call.at_least(2, 23):
            raise NotFound("A server's migrations need microversion 2.23 or later.")
        ctx = call.enforce("compute:migrations")
        return migrations.of_server(ctx, call.params["server_id"], migration_id)

    @api.get("/v2.1/servers/{server_id}/migrations")
    def list_server_migrations(call: Call) -> dict[str, Any]:
        """The server's live migrations under way (2.23, admins)."""
        return {"migrations": [migration(call, r, call.params["server_id"])
                               for r in server_migrations(call)]}

    @api.get("/v2.1/servers/{server_id}/migrations/{migration_id}")
    def show_server_migration(call: Call) -> dict[str, Any]:
        """One of them."""
        raw = call.params["migration_id"]
        if not is_digits(raw) or int(raw) > 2**31 - 1:
            raise NotFound(f"Migration {raw} could not be found.")
        row, = server_migrations(call, int(raw))
        return {"migration": migration(call, row, call.params["server_id"])}
