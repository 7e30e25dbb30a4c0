"""Unified limits: ``/v3/registered_limits`` and ``/v3/limits`` (the flat model)."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call, query_strings
from labs.common.policy import admin, system_reader
from labs.identity import models, schemas
from labs.identity.api import views
from labs.identity.limits import MODEL, LimitFilter, LimitView
from labs.identity.service import IdentityService

Body = dict[str, Any]
FILTERS = ("service_id", "region_id", "resource_name")


def registered(call: Call, row: models.RegisteredLimit) -> Body:
    return {"id": row.id, "service_id": row.service_id, "region_id": row.region_id,
            "resource_name": row.resource_name, "default_limit": row.default_limit,
            "description": row.description,
            "links": {"self": call.url(f"/v3/registered_limits/{row.id}")}}


def limit(call: Call, found: LimitView) -> Body:
    row, reg = found.row, found.registered
    return {"id": row.id, "project_id": row.project_id, "domain_id": row.domain_id,
            "service_id": reg.service_id, "region_id": reg.region_id,
            "resource_name": reg.resource_name, "resource_limit": row.resource_limit,
            "description": row.description, "links": {"self": call.url(f"/v3/limits/{row.id}")}}


def register(api: Api, identity: IdentityService) -> None:
    limits = identity.limits

    # -- registered limits ---------------------------------------------------
    @api.post("/v3/registered_limits", status=201, schema=schemas.registered_limits_create)
    def create_registered_limits(call: Call) -> Body:
        """Register default limits (a batch: all or nothing)."""
        call.enforce("identity:create_registered_limits")
        rows = limits.create_registered(call.body["registered_limits"])
        return {"registered_limits": [registered(call, r) for r in rows]}

    @api.get("/v3/registered_limits", query=query_strings(*FILTERS))
    def list_registered_limits(call: Call) -> Body:
        """Registered limits (filters: service_id, region_id, resource_name)."""
        call.enforce("identity:list_registered_limits")
        q = call.query
        rows = limits.list_registered(LimitFilter(q.get("service_id"), q.get("region_id"),
                                                  q.get("resource_name")))
        return views.collection(call, "registered_limits", [registered(call, r) for r in rows])

    @api.get("/v3/registered_limits/{registered_limit_id}")
    def show_registered_limit(call: Call) -> Body:
        """Show a registered limit."""
        call.enforce("identity:get_registered_limit")
        row = limits.get_registered(call.params["registered_limit_id"])
        return {"registered_limit": registered(call, row)}

    @api.patch("/v3/registered_limits/{registered_limit_id}",
               schema=schemas.registered_limit_update)
    def update_registered_limit(call: Call) -> Body:
        """Change a registered limit (its resource only while no limit refers to it)."""
        call.enforce("identity:update_registered_limit")
        row = limits.update_registered(call.params["registered_limit_id"],
                                       call.body["registered_limit"])
        return {"registered_limit": registered(call, row)}

    @api.delete("/v3/registered_limits/{registered_limit_id}")
    def delete_registered_limit(call: Call) -> None:
        """Delete a registered limit no limit refers to."""
        call.enforce("identity:delete_registered_limit")
        limits.delete_registered(call.params["registered_limit_id"])

    # -- limits --------------------------------------------------------------
    @api.get("/v3/limits/model")
    def limit_model(call: Call) -> Body:
        """The enforcement model: flat."""
        call.enforce("identity:get_limit_model")
        return {"model": MODEL}

    @api.post("/v3/limits", status=201, schema=schemas.limits_create)
    def create_limits(call: Call) -> Body:
        """Set projects' (or domains') own limits (a batch: all or nothing)."""
        call.enforce("identity:create_limits")
        return {"limits": [limit(call, f) for f in limits.create(call.body["limits"])]}

    @api.get("/v3/limits", query=query_strings(*FILTERS, "project_id", "domain_id"))
    def list_limits(call: Call) -> Body:
        """Limits: all of them for an admin, else those of the token's project or domain."""
        ctx = call.enforce("identity:list_limits")
        owners = None
        if not (admin(ctx, {}) or system_reader(ctx, {})):
            owners = frozenset(x for x in (ctx.project_id, ctx.domain_id) if x)
        q = call.query
        rows = limits.list(LimitFilter(q.get("service_id"), q.get("region_id"),
                                       q.get("resource_name"), q.get("project_id"),
                                       q.get("domain_id"), owners))
        return views.collection(call, "limits", [limit(call, f) for f in rows])

    @api.get("/v3/limits/{limit_id}")
    def show_limit(call: Call) -> Body:
        """Show a limit."""
        call.context  # noqa: B018 -- authenticate before looking anything up
        found = limits.get(call.params["limit_id"])
        call.enforce("identity:get_limit", {"project_id": found.row.project_id,
                                            "domain_id": found.row.domain_id})
        return {"limit": limit(call, found)}

    @api.patch("/v3/limits/{limit_id}", schema=schemas.limit_update)
    def update_limit(call: Call) -> Body:
        """Change a limit's value or description."""
        call.enforce("identity:update_limit")
        return {"limit": limit(call, limits.update(call.params["limit_id"],
                                                   call.body["limit"]))}

    @api.delete("/v3/limits/{limit_id}")
    def delete_limit(call: Call) -> None:
        """Delete a limit."""
        call.enforce("identity:delete_limit")
        limits.delete(call.params["limit_id"])
