"""Users, groups, passwords and application credentials."""

from __future__ import annotations

from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import Forbidden
from labs.common.http import Api, Call, query_strings
from labs.identity import schemas
from labs.identity.api import views
from labs.identity.api.projects import query_bool
from labs.identity.backends.base import UserFilter
from labs.identity.service import IdentityService


def register(api: Api, identity: IdentityService) -> None:
    users = identity.users

    # -- users ---------------------------------------------------------------
    @api.post("/v3/users", status=201, schema=schemas.user_create)
    def create_user(call: Call) -> dict[str, Any]:
        """Create a user."""
        ctx = call.enforce("identity:create_user")
        default_domain = ctx.domain_id or identity.default_domain_id
        return {"user": views.user(call, users.create_user(call.body["user"], default_domain))}

    @api.get("/v3/users", query=query_strings("name", "domain_id", "enabled"))
    def list_users(call: Call) -> dict[str, Any]:
        """List users (filters: name, domain_id, enabled)."""
        name = call.query.get("name")
        call.enforce("identity:list_users", {"name": name})
        rows = users.list_users(UserFilter(domain_id=call.query.get("domain_id"), name=name,
                                           enabled=query_bool(call, "enabled")))
        return views.collection(call, "users", [views.user(call, r) for r in rows])

    @api.get("/v3/users/{user_id}")
    def show_user(call: Call) -> dict[str, Any]:
        """Show a user."""
        call.enforce("identity:get_user", {"user_id": call.params["user_id"]})
        return {"user": views.user(call, users.get_user(call.params["user_id"]))}

    @api.patch("/v3/users/{user_id}", schema=schemas.user_update)
    def update_user(call: Call) -> dict[str, Any]:
        """Update a user (an admin may set a new password here)."""
        call.enforce("identity:update_user", {"user_id": call.params["user_id"]})
        row = users.update_user(call.params["user_id"], call.body["user"])
        return {"user": views.user(call, row)}

    @api.delete("/v3/users/{user_id}")
    def delete_user(call: Call) -> None:
        """Delete a user, their grants and credentials; their tokens stop working."""
        call.enforce("identity:delete_user", {"user_id": call.params["user_id"]})
        users.delete_user(call.params["user_id"])

    @api.post("/v3/users/{user_id}/password", status=204, schema=schemas.password_change)
    def change_password(call: Call) -> None:
        """A user changes their own password."""
        call.enforce("identity:change_password", {"user_id": call.params["user_id"]})
        body = call.body["user"]
        users.change_password(call.params["user_id"], body["original_password"],
                              body["password"])

    @api.get("/v3/users/{user_id}/groups")
    def list_user_groups(call: Call) -> dict[str, Any]:
        """The groups a user belongs to."""
        call.enforce("identity:list_groups_for_user", {"user_id": call.params["user_id"]})
        rows = users.list_user_groups(call.params["user_id"])
        return views.collection(call, "groups", [views.group(call, r) for r in rows])

    # -- groups --------------------------------------------------------------
    @api.post("/v3/groups", status=201, schema=schemas.group_create)
    def create_group(call: Call) -> dict[str, Any]:
        """Create a group."""
        ctx = call.enforce("identity:create_group")
        default_domain = ctx.domain_id or identity.default_domain_id
        return {"group": views.group(call, users.create_group(call.body["group"],
                                                              default_domain))}

    @api.get("/v3/groups", query=query_strings("name", "domain_id"))
    def list_groups(call: Call) -> dict[str, Any]:
        """List groups (filters: name, domain_id)."""
        call.enforce("identity:list_groups")
        rows = users.list_groups(call.query.get("domain_id"), call.query.get("name"))
        return views.collection(call, "groups", [views.group(call, r) for r in rows])

    @api.get("/v3/groups/{group_id}")
    def show_group(call: Call) -> dict[str, Any]:
        """Show a group."""
        call.enforce("identity:get_group")
        return {"group": views.group(call, users.get_group(call.params["group_id"]))}

    @api.patch("/v3/groups/{group_id}", schema=schemas.group_update)
    def update_group(call: Call) -> dict[str, Any]:
        """Update a group."""
        call.enforce("identity:update_group")
        row = users.update_group(call.params["group_id"], call.body["group"])
        return {"group": views.group(call, row)}

    @api.delete("/v3/groups/{group_id}")
    def delete_group(call: Call) -> None:
        """Delete a group and its grants."""
        call.enforce("identity:delete_group")
        users.delete_group(call.params["group_id"])

    @api.get("/v3/groups/{group_id}/users")
    def list_group_users(call: Call) -> dict[str, Any]:
        """The members of a group."""
        call.enforce("identity:list_users_in_group")
        rows = users.list_group_members(call.params["group_id"])
        return views.collection(call, "users", [views.user(call, r) for r in rows])

    @api.put("/v3/groups/{group_id}/users/{user_id}", status=204)
    def add_group_user(call: Call) -> None:
        """Add a user to a group."""
        call.enforce("identity:add_user_to_group")
        users.add_user_to_group(call.params["user_id"], call.params["group_id"])

    @api.head("/v3/groups/{group_id}/users/{user_id}", status=204)
    @api.get("/v3/groups/{group_id}/users/{user_id}", status=204)
    def check_group_user(call: Call) -> None:
        """Whether a user is in a group (204) or not (404)."""
        call.enforce("identity:check_user_in_group")
        users.check_user_in_group(call.params["user_id"], call.params["group_id"])

    @api.delete("/v3/groups/{group_id}/users/{user_id}")
    def remove_group_user(call: Call) -> None:
        """Remove a user from a group."""
        call.enforce("identity:remove_user_from_group")
        users.remove_user_from_group(call.params["user_id"], call.params["group_id"])

    # -- application credentials --------------------------------------------
    creds = identity.app_credentials
    base = "/v3/users/{user_id}/application_credentials"

    def check_unrestricted(ctx: RequestContext) -> None:
        """A restricted application credential manages no credentials (as Keystone)."""
        if ctx.application_credential_id is None:
            return
        held = identity.tokens.validate(ctx.token, ctx.revision)
        if held.application_credential is None or not held.application_credential.unrestricted:
            raise Forbidden("A restricted application credential cannot manage application "
                            "credentials.")

    @api.post(base, status=201, schema=schemas.app_credential_create)
    def create_app_credential(call: Call) -> dict[str, Any]:
        """Create an application credential for the token's project."""
        ctx = call.enforce("identity:create_application_credential",
                           {"user_id": call.params["user_id"]})
        if ctx.project_id is None:
            raise Forbidden("An application credential needs a project-scoped token.")
        if ctx.application_credential_id is not None:
            # not even an unrestricted one (Keystone allows it): the new credential
            # could outlive the one that made it
            raise Forbidden("An application credential cannot create another one.")
        held = identity.tokens.validate(ctx.token)
        if held.trust is not None:  # it would outlive the trust and its limits
            raise Forbidden("An application credential cannot be created with a trust-scoped "
                            "token.")
        new = creds.create(ctx.user_id, ctx.project_id, [rid for rid, _ in held.roles],
                           call.body["application_credential"])
        names = identity.assignments.names(new.row.role_ids)
        return {"application_credential": views.app_credential(call, new.row, names,
                                                                new.secret, new.access_rules)}

    @api.get(base, query=query_strings("name"))
    def list_app_credentials(call: Call) -> dict[str, Any]:
        """A user's application credentials."""
        call.enforce("identity:list_application_credentials",
                     {"user_id": call.params["user_id"]})
        rows = creds.list(call.params["user_id"], call.query.get("name"))
        names = identity.assignments.names(sorted({r for row in rows for r in row.role_ids}))
        rules = creds.access_rules([row.id for row in rows])
        return views.collection(call, "application_credentials", [
            views.app_credential(call, row, names, rules=rules.get(row.id)) for row in rows])

    @api.get(base + "/{credential_id}")
    def show_app_credential(call: Call) -> dict[str, Any]:
        """Show an application credential (never its secret)."""
        call.enforce("identity:get_application_credential", {"user_id": call.params["user_id"]})
        row = creds.get(call.params["user_id"], call.params["credential_id"])
        names = identity.assignments.names(row.role_ids)
        rules = creds.access_rules([row.id]).get(row.id)
        return {"application_credential": views.app_credential(call, row, names, rules=rules)}

    @api.delete(base + "/{credential_id}")
    def delete_app_credential(call: Call) -> None:
        """Delete an application credential; its tokens stop working."""
        call.enforce("identity:delete_application_credential",
                     {"user_id": call.params["user_id"]})
        check_unrestricted(call.context)
        creds.delete(call.params["user_id"], call.params["credential_id"])
