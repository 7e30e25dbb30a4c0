"""Server groups (``os-server-groups``): affinity policies for a project's servers."""

from __future__ import annotations

from typing import Any

from labs.common.errors import BadRequest
from labs.common.http import WINDOW, Api, Call, query_strings
from labs.common.numbers import is_digits
from labs.compute.api import schemas
from labs.compute.api.routes import views
from labs.compute.api.service import ComputeService


def offset(call: Call) -> int:
    raw = call.query.get("offset", "0")
    if not is_digits(raw) or int(raw) > views.MAX_QUERY_INT:
        raise BadRequest("Invalid input received: offset must be an integer from 0 to "
                         f"{views.MAX_QUERY_INT}")
    return int(raw)


def register(api: Api, service: ComputeService) -> None:
    groups = service.groups
    max_limit = service.options.max_list_limit

    @api.get("/v2.1/os-server-groups",
             query={**WINDOW, **query_strings("all_projects")})
    def list_server_groups(call: Call) -> dict[str, Any]:
        """The project's groups (``all_projects`` for admins), ``limit``/``offset``."""
        ctx = call.enforce("compute:server_groups:read")
        # as Nova: a non-admin asking for all projects just gets their own
        rows = groups.list_groups(ctx, "all_projects" in call.query,
                                  views.page_limit(call, max_limit), offset(call))
        return {"server_groups": [views.server_group(call, r) for r in rows]}

    @api.post("/v2.1/os-server-groups", schema=schemas.OBJECT)
    def create_server_group(call: Call) -> dict[str, Any]:
        """Create a group: ``policy`` and ``rules`` from 2.64, ``policies`` before."""
        ctx = call.enforce("compute:server_groups:manage")
        body = schemas.check(call.body, schemas.SERVER_GROUP_CREATE,
                             call.version)["server_group"]
        policy = body["policy"] if call.at_least(2, 64) else body["policies"][0]
        view = groups.create(ctx, body["name"], policy, body.get("rules"))
        return {"server_group": views.server_group(call, view)}

    @api.get("/v2.1/os-server-groups/{group_id}")
    def show_server_group(call: Call) -> dict[str, Any]:
        """One group with its members."""
        ctx = call.enforce("compute:server_groups:read")
        return {"server_group": views.server_group(call,
                                                   groups.get(ctx, call.params["group_id"]))}

    @api.delete("/v2.1/os-server-groups/{group_id}")
    def delete_server_group(call: Call) -> None:
        """Delete a group; its servers stay where they are."""
        ctx = call.enforce("compute:server_groups:manage")
        groups.delete(ctx, call.params["group_id"])
