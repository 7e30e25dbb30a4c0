"""A user's access rules: ``/v3/users/{user_id}/access_rules[/{access_rule_id}]``."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call
from labs.identity.api import views
from labs.identity.service import IdentityService


def register(api: Api, identity: IdentityService) -> None:
    rules = identity.access_rules
    base = "/v3/users/{user_id}/access_rules"

    @api.get(base)
    def list_access_rules(call: Call) -> dict[str, Any]:
        """The access rules of a user's application credentials."""
        user_id = call.params["user_id"]
        call.enforce("identity:list_access_rules", {"user_id": user_id})
        identity.users.get_user(user_id)
        return views.collection(call, "access_rules",
                                [views.access_rule(call, r) for r in rules.list(user_id)])

    @api.get(base + "/{access_rule_id}")
    def show_access_rule(call: Call) -> dict[str, Any]:
        """Show an access rule."""
        user_id = call.params["user_id"]
        call.enforce("identity:get_access_rule", {"user_id": user_id})
        row = rules.get(user_id, call.params["access_rule_id"])
        return {"access_rule": views.access_rule(call, row)}

    @api.delete(base + "/{access_rule_id}")
    def delete_access_rule(call: Call) -> None:
        """Delete an access rule no application credential uses."""
        user_id = call.params["user_id"]
        call.enforce("identity:delete_access_rule", {"user_id": user_id})
        rules.delete(user_id, call.params["access_rule_id"])
