"""Domains and projects: ``/v3/domains``, ``/v3/projects``."""

from __future__ import annotations

from typing import Any

from labs.common.errors import BadRequest
from labs.common.http import Api, Call, query_strings, yes_no
from labs.identity import schemas
from labs.identity.api import views
from labs.identity.resources import ProjectFilter
from labs.identity.service import IdentityService


def query_bool(call: Call, name: str) -> bool | None:
    """``?enabled=``: true, 1, yes or nothing; false, 0 or no; else 400."""
    return yes_no(call.query.get(name), yes=("true", "1", "yes", ""), no=("false", "0", "no"),
                  absent=None,
                  invalid=lambda: BadRequest(f"Query parameter {name} must be true or false."))


def register(api: Api, identity: IdentityService) -> None:
    resources = identity.resources

    # -- domains -------------------------------------------------------------
    @api.post("/v3/domains", status=201, schema=schemas.domain_create)
    def create_domain(call: Call) -> dict[str, Any]:
        """Create a domain."""
        call.enforce("identity:create_domain")
        fields = call.body["domain"]
        row = resources.create_domain(fields["name"], fields.get("description") or "",
                                      fields.get("enabled", True))
        return {"domain": views.domain(call, row)}

    @api.get("/v3/domains", query=query_strings("name", "enabled"))
    def list_domains(call: Call) -> dict[str, Any]:
        """List domains."""
        call.enforce("identity:list_domains")
        rows = resources.list_domains(call.query.get("name"), query_bool(call, "enabled"))
        return views.collection(call, "domains", [views.domain(call, r) for r in rows])

    @api.get("/v3/domains/{domain_id}")
    def show_domain(call: Call) -> dict[str, Any]:
        """Show a domain."""
        call.enforce("identity:get_domain", {"domain_id": call.params["domain_id"]})
        return {"domain": views.domain(call, resources.get_domain(call.params["domain_id"]))}

    @api.patch("/v3/domains/{domain_id}", schema=schemas.domain_update)
    def update_domain(call: Call) -> dict[str, Any]:
        """Update a domain."""
        call.enforce("identity:update_domain")
        row = resources.update_domain(call.params["domain_id"], call.body["domain"])
        return {"domain": views.domain(call, row)}

    @api.delete("/v3/domains/{domain_id}")
    def delete_domain(call: Call) -> None:
        """Delete a disabled, empty domain."""
        call.enforce("identity:delete_domain")
        resources.delete_domain(call.params["domain_id"])

    # -- projects ------------------------------------------------------------
    @api.post("/v3/projects", status=201, schema=schemas.project_create)
    def create_project(call: Call) -> dict[str, Any]:
        """Create a project."""
        ctx = call.enforce("identity:create_project")
        default_domain = ctx.domain_id or ctx.project_domain_id or identity.default_domain_id
        row = resources.create_project(call.body["project"], default_domain)
        return {"project": views.project(call, row)}

    @api.get("/v3/projects", query=query_strings("name", "domain_id", "enabled", "parent_id"))
    def list_projects(call: Call) -> dict[str, Any]:
        """List projects (filters: name, domain_id, enabled, parent_id)."""
        call.enforce("identity:list_projects")
        rows = resources.list_projects(ProjectFilter(
            name=call.query.get("name"), domain_id=call.query.get("domain_id"),
            enabled=query_bool(call, "enabled"), parent_id=call.query.get("parent_id")))
        return views.collection(call, "projects", [views.project(call, r) for r in rows])

    @api.get("/v3/projects/{project_id}")
    def show_project(call: Call) -> dict[str, Any]:
        """Show a project."""
        call.enforce("identity:get_project", {"project_id": call.params["project_id"]})
        return {"project": views.project(call, resources.get_project(call.params["project_id"]))}

    @api.patch("/v3/projects/{project_id}", schema=schemas.project_update)
    def update_project(call: Call) -> dict[str, Any]:
        """Update a project."""
        call.enforce("identity:update_project", {"project_id": call.params["project_id"]})
        row = resources.update_project(call.params["project_id"], call.body["project"])
        return {"project": views.project(call, row)}

    @api.delete("/v3/projects/{project_id}")
    def delete_project(call: Call) -> None:
        """Delete a project and its role assignments."""
        call.enforce("identity:delete_project", {"project_id": call.params["project_id"]})
        resources.delete_project(call.params["project_id"])

    @api.get("/v3/users/{user_id}/projects")
    def list_user_projects(call: Call) -> dict[str, Any]:
        """The projects where a user holds a role."""
        call.enforce("identity:list_user_projects", {"user_id": call.params["user_id"]})
        identity.users.get_user(call.params["user_id"])
        rows = identity.assignments.projects_for_user(call.params["user_id"])
        return views.collection(call, "projects", [views.project(call, r) for r in rows])
