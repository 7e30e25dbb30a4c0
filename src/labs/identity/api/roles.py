"""Roles, grants and ``/v3/role_assignments``."""

from __future__ import annotations

from typing import Any

from labs.common.errors import BadRequest, NotFound
from labs.common.http import Api, Call, query_strings
from labs.identity import models, schemas
from labs.identity.api import views
from labs.identity.assignments import AssignmentFilter, Grant
from labs.identity.service import IdentityService

# URL forms of grants: /v3/<targets>/<target>/<actors>/<actor>/roles[/<role>]
TARGETS = {"projects": models.TARGET_PROJECT, "domains": models.TARGET_DOMAIN}
ACTORS = {"users": models.ACTOR_USER, "groups": models.ACTOR_GROUP}


def register(api: Api, identity: IdentityService) -> None:
    assignments = identity.assignments

    # -- roles ---------------------------------------------------------------
    @api.post("/v3/roles", status=201, schema=schemas.role_create)
    def create_role(call: Call) -> dict[str, Any]:
        """Create a role."""
        call.enforce("identity:create_role")
        body = call.body["role"]
        row = assignments.create_role(body["name"], body.get("description") or "")
        return {"role": views.role(call, row)}

    @api.get("/v3/roles", query=query_strings("name"))
    def list_roles(call: Call) -> dict[str, Any]:
        """List roles."""
        call.enforce("identity:list_roles")
        rows = assignments.list_roles(call.query.get("name"))
        return views.collection(call, "roles", [views.role(call, r) for r in rows])

    @api.get("/v3/roles/{role_id}")
    def show_role(call: Call) -> dict[str, Any]:
        """Show a role."""
        call.enforce("identity:get_role")
        return {"role": views.role(call, assignments.get_role(call.params["role_id"]))}

    @api.patch("/v3/roles/{role_id}", schema=schemas.role_update)
    def update_role(call: Call) -> dict[str, Any]:
        """Rename or describe a role."""
        call.enforce("identity:update_role")
        return {"role": views.role(call, assignments.update_role(call.params["role_id"],
                                                                 call.body["role"]))}

    @api.delete("/v3/roles/{role_id}")
    def delete_role(call: Call) -> None:
        """Delete a role and every grant of it."""
        call.enforce("identity:delete_role")
        assignments.delete_role(call.params["role_id"])

    # -- grants --------------------------------------------------------------
    def grant_of(call: Call, rule: str) -> Grant:
        p = call.params
        if p.get("targets", "projects") not in TARGETS or p["actors"] not in ACTORS:
            raise NotFound(f"The resource {call.request.url.path} was not found.")
        target_type = TARGETS.get(p.get("targets", ""), models.TARGET_SYSTEM)
        target_id = p.get("target_id", models.SYSTEM_ID)
        role_id = p.get("role_id", "")
        target: dict[str, Any] = {}
        if target_type == models.TARGET_PROJECT:
            target["project_id"] = target_id
        elif target_type == models.TARGET_DOMAIN:
            target["domain_id"] = target_id
        call.context  # noqa: B018 -- authenticate before looking anything up
        if role_id:
            target["role_name"] = assignments.get_role(role_id).name
        call.enforce(rule, target)
        return Grant(role_id, ACTORS[p["actors"]], p["actor_id"], target_type, target_id)

    scoped = "/v3/{targets:str}/{target_id}/{actors:str}/{actor_id}/roles"
    system = "/v3/system/{actors:str}/{actor_id}/roles"
    def create_grant(call: Call) -> None:
        """Grant a role (idempotent)."""
        assignments.create_grant(grant_of(call, "identity:create_grant"))

    def check_grant(call: Call) -> None:
        """Whether a role is granted (204) or not (404)."""
        assignments.check_grant(grant_of(call, "identity:check_grant"))

    def revoke_grant(call: Call) -> None:
        """Take a role back."""
        assignments.delete_grant(grant_of(call, "identity:revoke_grant"))

    def list_grants(call: Call) -> dict[str, Any]:
        """The roles an actor holds on a target."""
        grant = grant_of(call, "identity:list_grants")
        rows = assignments.list_grant_roles(grant.actor_type, grant.actor_id,
                                            grant.target_type, grant.target_id)
        return views.collection(call, "roles", [views.role(call, r) for r in rows])

    for base in (scoped, system):
        api.put(base + "/{role_id}", status=204)(create_grant)
        api.head(base + "/{role_id}", status=204)(check_grant)
        api.get(base + "/{role_id}", status=204)(check_grant)
        api.delete(base + "/{role_id}")(revoke_grant)
        api.get(base)(list_grants)

    # -- role assignments ----------------------------------------------------
    @api.get("/v3/role_assignments", query=query_strings(
        "user.id", "group.id", "role.id", "scope.project.id", "scope.domain.id", "scope.system",
        "effective", "include_names"))
    def list_role_assignments(call: Call) -> dict[str, Any]:
        """Who holds which role where (filters, effective, include_names)."""
        q = call.query
        where = AssignmentFilter(
            user_id=q.get("user.id"), group_id=q.get("group.id"), role_id=q.get("role.id"),
            project_id=q.get("scope.project.id"), domain_id=q.get("scope.domain.id"),
            system=q.get("scope.system") == "all", effective=call.flag("effective"))
        if where.effective and where.group_id:
            raise BadRequest("effective and group.id cannot be combined.")
        if where.user_id and where.group_id:
            # the group filter wins, so the owner rule would show any group's grants
            raise BadRequest("Specify a user or group, not both.")
        call.enforce("identity:list_role_assignments",
                     {"project_id": where.project_id, "user_id": where.user_id})
        grants = assignments.list_assignments(where)
        names = assignments.describe(grants) if call.flag("include_names") else None
        return views.collection(call, "role_assignments",
                                [views.assignment(call, g, names) for g in grants])
