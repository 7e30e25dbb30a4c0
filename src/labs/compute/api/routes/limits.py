"""Limits (``GET /limits``) and quota sets (``os-quota-sets``) of a project."""

from __future__ import annotations

from typing import Any

from labs.common.context import RequestContext
from labs.common.http import Api, Call, Reply, query_strings
from labs.compute.api import schemas
from labs.compute.api.limits import LimitService
from labs.compute.api.routes import views
from labs.compute.api.service import ComputeService


def project_of(call: Call, rule: str, other_rule: str, wanted: str | None
               ) -> tuple[RequestContext, str]:
    """The caller, and the project asked about: only admins ask about other ones."""
    ctx = call.enforce(rule)
    if wanted is not None and wanted != ctx.project_id:
        call.enforce(other_rule)
    return ctx, wanted or ctx.project_id or ""


def register(api: Api, service: ComputeService) -> None:
    quotas = LimitService(service.db, service.quotas)

    @api.get("/v2.1/limits", query=query_strings("tenant_id"))
    def show_limits(call: Call) -> dict[str, Any]:
        """The project's absolute limits and what it uses (``?tenant_id=`` for admins)."""
        _ctx, project_id = project_of(call, "compute:limits", "compute:limits:other_project",
                                      call.query.get("tenant_id"))
        return views.limits(call, quotas.usage(project_id))

    def quota_project(call: Call) -> tuple[RequestContext, str]:
        return project_of(call, "compute:quotas:show", "compute:quotas:other_project",
                          call.params["project_id"])

    @api.get("/v2.1/os-quota-sets/{project_id}")
    def show_quota_set(call: Call) -> dict[str, Any]:
        """A project's quota limits."""
        _ctx, project_id = quota_project(call)
        return views.quota_set(call, project_id, quotas.limits(project_id))

    @api.get("/v2.1/os-quota-sets/{project_id}/detail")
    def show_quota_detail(call: Call) -> dict[str, Any]:
        """A project's limits with what it uses (key pairs: the caller's)."""
        ctx, project_id = quota_project(call)
        return views.quota_detail(call, project_id, quotas.usage(project_id, ctx.user_id))

    @api.get("/v2.1/os-quota-sets/{project_id}/defaults")
    def show_quota_defaults(call: Call) -> dict[str, Any]:
        """The limits a project has until an admin sets others."""
        call.enforce("compute:quotas:show")
        return views.quota_set(call, call.params["project_id"], quotas.defaults())

    @api.put("/v2.1/os-quota-sets/{project_id}", schema=schemas.OBJECT)
    def update_quota_set(call: Call) -> dict[str, Any]:
        """Set limits (admin); ``force`` allows going below what is in use."""
        call.enforce("compute:quotas:update")
        body = schemas.check(call.body, schemas.QUOTA_SET_UPDATE, call.version)["quota_set"]
        changes = {name: schemas.integer(name, value, -1)
                   for name, value in body.items() if name != "force"}
        limits = quotas.update(call.params["project_id"], changes,
                               schemas.boolean(body.get("force", False)))
        return views.quota_set(call, None, limits)

    @api.delete("/v2.1/os-quota-sets/{project_id}")
    def reset_quota_set(call: Call) -> Reply:
        """Back to the default limits (admin)."""
        call.enforce("compute:quotas:update")
        quotas.reset(call.params["project_id"])
        return Reply(status=202)
