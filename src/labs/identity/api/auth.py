"""Tokens and what a token may see: ``/v3/auth/*``."""

from __future__ import annotations

from typing import Any

from labs.common.errors import BadRequest, NotFound, Unauthorized
from labs.common.http import Api, Call, Reply
from labs.identity import schemas
from labs.identity.api import views
from labs.identity.assignments import AssignmentFilter
from labs.identity.service import IdentityService
from labs.identity.validated import ValidatedToken


def register(api: Api, identity: IdentityService) -> None:
    tokens = identity.tokens

    def subject(call: Call, rule: str) -> ValidatedToken:
        """The token named by X-Subject-Token; 404 when it is not valid (as Keystone)."""
        caller = call.context
        subject_token = call.headers.get("x-subject-token")
        if not subject_token:
            raise BadRequest("The X-Subject-Token header names the token to act on.")
        try:
            held = tokens.validate(subject_token, caller.revision)
        except Unauthorized:
            raise NotFound("Could not find token: the token is invalid, expired or "
                           "revoked.") from None
        call.enforce(rule, {"subject_user_id": held.user.id})
        return held

    @api.post("/v3/auth/tokens", status=201, schema=schemas.auth, public=True)
    def issue_token(call: Call) -> Reply:
        """Authenticate and get a token."""
        held = tokens.issue(call.body["auth"])
        return Reply(views.token(held, call.flag("nocatalog")), status=201,
                     headers={"X-Subject-Token": held.token})

    @api.get("/v3/auth/tokens")
    def validate_token(call: Call) -> Reply:
        """Validate a token and show what it stands for."""
        held = subject(call, "identity:validate_token")
        return Reply(views.token(held, call.flag("nocatalog")),
                     headers={"X-Subject-Token": held.token})

    @api.head("/v3/auth/tokens")
    def check_token(call: Call) -> Reply:
        """Check a token."""
        held = subject(call, "identity:validate_token")
        return Reply(None, status=200, headers={"X-Subject-Token": held.token})

    @api.delete("/v3/auth/tokens")
    def revoke_token(call: Call) -> None:
        """Revoke a token (and the tokens rescoped from it)."""
        held = subject(call, "identity:revoke_token")
        tokens.revoke(held.token)

    @api.get("/v3/auth/catalog")
    def auth_catalog(call: Call) -> dict[str, Any]:
        """The catalog of the token's scope."""
        call.enforce("identity:get_auth_catalog")
        held = tokens.validate(call.context.token)
        return {"catalog": views.catalog(held.catalog),
                "links": {"self": call.url("/v3/auth/catalog")}}

    @api.get("/v3/auth/projects")
    def auth_projects(call: Call) -> dict[str, Any]:
        """The projects the token's user may scope to."""
        ctx = call.enforce("identity:get_auth_projects")
        rows = identity.assignments.projects_for_user(ctx.user_id)
        return views.collection(call, "projects", [views.project(call, r) for r in rows])

    @api.get("/v3/auth/domains")
    def auth_domains(call: Call) -> dict[str, Any]:
        """The domains the token's user may scope to."""
        ctx = call.enforce("identity:get_auth_domains")
        rows = identity.assignments.domains_for_user(ctx.user_id)
        return views.collection(call, "domains", [views.domain(call, r) for r in rows])

    @api.get("/v3/auth/system")
    def auth_system(call: Call) -> dict[str, Any]:
        """Whether the token's user may scope to the system."""
        ctx = call.enforce("identity:get_auth_system")
        grants = identity.assignments.list_assignments(
            AssignmentFilter(user_id=ctx.user_id, system=True, effective=True))
        return {"system": [{"all": True}] if grants else [],
                "links": {"self": call.url("/v3/auth/system")}}

