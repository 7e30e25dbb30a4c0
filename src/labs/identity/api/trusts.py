"""Trusts: ``/v3/OS-TRUST/trusts`` (OS-TRUST)."""

from __future__ import annotations

from typing import Any

from labs.common.errors import Forbidden, NotFound
from labs.common.http import Api, Call, Reply, query_strings
from labs.identity import models, schemas
from labs.identity.api import views
from labs.identity.service import IdentityService

BASE = "/v3/OS-TRUST/trusts"


def trust(call: Call, row: models.Trust, names: dict[str, str]) -> dict[str, Any]:
    path = f"{BASE}/{row.id}"
    body: dict[str, Any] = {
        "id": row.id, "trustor_user_id": row.trustor_user_id,
        "trustee_user_id": row.trustee_user_id, "project_id": row.project_id,
        "impersonation": row.impersonation,
        "expires_at": views.timestamp(row.expires_at) if row.expires_at else None,
        "remaining_uses": row.remaining_uses, "allow_redelegation": row.allow_redelegation,
        "redelegated_trust_id": row.redelegated_trust_id,
        "roles": [role_ref(call, rid, names) for rid in row.role_ids if rid in names],
        "roles_links": {"self": call.url(path + "/roles"), "previous": None, "next": None},
        "links": views.links(call, path)}
    if row.redelegation_count is not None:
        body["redelegation_count"] = row.redelegation_count
    return body


def role_ref(call: Call, role_id: str, names: dict[str, str]) -> dict[str, Any]:
    return {"id": role_id, "name": names[role_id],
            "links": views.links(call, f"/v3/roles/{role_id}")}


def target(row: models.Trust) -> dict[str, str]:
    return {"trustor_id": row.trustor_user_id, "trustee_id": row.trustee_user_id}


def register(api: Api, identity: IdentityService) -> None:
    trusts = identity.trusts

    def names(rows: list[models.Trust]) -> dict[str, str]:
        return identity.assignments.names(sorted({r for row in rows for r in row.role_ids}))

    @api.post(BASE, status=201, schema=schemas.trust_create)
    def create_trust(call: Call) -> dict[str, Any]:
        """Delegate roles on a project to another user."""
        fields = call.body["trust"]
        ctx = call.enforce("identity:create_trust", {"trustor_id": fields["trustor_user_id"]})
        if ctx.application_credential_id is not None:
            raise Forbidden("Using method 'application_credential' is not allowed for "
                            "managing trusts.")
        parent = identity.tokens.validate(ctx.token, ctx.revision).trust
        row = trusts.create(ctx.user_id, fields, parent)
        return {"trust": trust(call, row, names([row]))}

    @api.get(BASE, query=query_strings("trustor_user_id", "trustee_user_id"))
    def list_trusts(call: Call) -> dict[str, Any]:
        """List trusts: all of them (admin), or by trustor_user_id or trustee_user_id."""
        trustor, trustee = call.query.get("trustor_user_id"), call.query.get("trustee_user_id")
        if trustor is None and trustee is None:
            call.enforce("identity:list_trusts")
        if trustor is not None:
            call.enforce("identity:list_trusts_for_trustor", {"trustor_id": trustor})
        if trustee is not None:
            call.enforce("identity:list_trusts_for_trustee", {"trustee_id": trustee})
        rows = trusts.list(trustor, trustee)
        known = names(rows)
        return views.collection(call, "trusts", [trust(call, r, known) for r in rows])

    @api.get(BASE + "/{trust_id}")
    def show_trust(call: Call) -> dict[str, Any]:
        """Show a trust (its trustor, its trustee and admins)."""
        row = trusts.get(call.params["trust_id"])
        call.enforce("identity:get_trust", target(row))
        return {"trust": trust(call, row, names([row]))}

    @api.delete(BASE + "/{trust_id}")
    def delete_trust(call: Call) -> None:
        """Delete a trust and the trusts redelegated from it; their tokens stop working."""
        row = trusts.get(call.params["trust_id"])
        ctx = call.enforce("identity:delete_trust", target(row))
        if ctx.application_credential_id is not None:
            raise Forbidden("Using method 'application_credential' is not allowed for "
                            "managing trusts.")
        trusts.delete(row.id)

    @api.get(BASE + "/{trust_id}/roles")
    def list_trust_roles(call: Call) -> dict[str, Any]:
        """The roles a trust delegates."""
        row = trusts.get(call.params["trust_id"])
        call.enforce("identity:list_roles_for_trust", target(row))
        known = names([row])
        return views.collection(call, "roles", [role_ref(call, rid, known)
                                                for rid in row.role_ids if rid in known])

    def trust_role(call: Call) -> dict[str, Any]:
        row = trusts.get(call.params["trust_id"])
        call.enforce("identity:get_role_for_trust", target(row))
        role_id = call.params["role_id"]
        known = names([row])
        if role_id not in row.role_ids or role_id not in known:
            raise NotFound(f"Could not find role: {role_id}.")
        return {"role": role_ref(call, role_id, known)}

    @api.get(BASE + "/{trust_id}/roles/{role_id}")
    def show_trust_role(call: Call) -> dict[str, Any]:
        """Show a role the trust delegates (404 when it does not)."""
        return trust_role(call)

    @api.head(BASE + "/{trust_id}/roles/{role_id}")
    def check_trust_role(call: Call) -> Reply:
        """Whether a trust delegates a role (200) or not (404)."""
        trust_role(call)
        return Reply(None, status=200)
