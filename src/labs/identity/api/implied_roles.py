"""Role inference rules: ``/v3/roles/{prior}/implies[/{implied}]``, ``/v3/role_inferences``."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call
from labs.identity import models
from labs.identity.service import IdentityService

Body = dict[str, Any]


def _ref(call: Call, row: models.Role) -> Body:
    return {"id": row.id, "name": row.name, "links": {"self": call.url(f"/v3/roles/{row.id}")}}


def register(api: Api, identity: IdentityService) -> None:
    rules = identity.implied_roles
    one = "/v3/roles/{prior_role_id}/implies/{implied_role_id}"

    def rule(call: Call, prior: models.Role, implied: models.Role) -> Body:
        return {"role_inference": {"prior_role": _ref(call, prior),
                                   "implies": _ref(call, implied)},
                "links": {"self": call.url(f"/v3/roles/{prior.id}/implies/{implied.id}")}}

    @api.put(one, status=201)
    def create_implied_role(call: Call) -> Body:
        """Make a role imply another (idempotent)."""
        call.enforce("identity:create_implied_role")
        p = call.params
        return rule(call, *rules.create(p["prior_role_id"], p["implied_role_id"]))

    @api.get(one)
    def show_implied_role(call: Call) -> Body:
        """Show a role inference rule."""
        call.enforce("identity:get_implied_role")
        p = call.params
        return rule(call, *rules.get(p["prior_role_id"], p["implied_role_id"]))

    @api.head(one, status=204)
    def check_implied_role(call: Call) -> None:
        """Whether a role implies another (204) or not (404)."""
        call.enforce("identity:check_implied_role")
        rules.get(call.params["prior_role_id"], call.params["implied_role_id"])

    @api.delete(one)
    def delete_implied_role(call: Call) -> None:
        """Remove a role inference rule."""
        call.enforce("identity:delete_implied_role")
        rules.delete(call.params["prior_role_id"], call.params["implied_role_id"])

    @api.get("/v3/roles/{prior_role_id}/implies")
    def list_implied_roles(call: Call) -> Body:
        """The roles a role implies directly."""
        call.enforce("identity:list_implied_roles")
        prior, implied = rules.list_for(call.params["prior_role_id"])
        return {"role_inference": {"prior_role": _ref(call, prior),
                                   "implies": [_ref(call, r) for r in implied]},
                "links": {"self": call.url(f"/v3/roles/{prior.id}/implies")}}

    @api.get("/v3/role_inferences")
    def list_role_inferences(call: Call) -> Body:
        """Every role inference rule, grouped by prior role."""
        call.enforce("identity:list_role_inference_rules")
        return {"role_inferences": [
            {"prior_role": _ref(call, prior), "implies": [_ref(call, r) for r in implied]}
            for prior, implied in rules.list_all()],
            "links": {"self": call.url("/v3/role_inferences"), "previous": None, "next": None}}
