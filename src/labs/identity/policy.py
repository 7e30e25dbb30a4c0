"""Who may do what in identity: every rule in one place.

Labs roles: ``admin`` is cloud-wide; ``projectadmin`` manages the membership of
its project; ``member`` and ``reader`` see their project. A user always sees
and manages their own account, tokens and application credentials.
"""

from __future__ import annotations

from labs.common.context import RequestContext
from labs.common.policy import (
    Rule,
    Target,
    admin,
    always,
    any_of,
    in_domain,
    is_owner,
    project_admin,
    project_reader,
    system_reader,
)


def _grants_project_role(ctx: RequestContext, target: Target) -> bool:
    """A project admin hands out the project roles, never cloud-wide ``admin``."""
    return project_admin(ctx, target) and target.get("role_name") in (
        "projectadmin", "member", "reader")


def _lookup_by_name(ctx: RequestContext, target: Target) -> bool:
    """Project admins may look a user up by exact name to add them to the project."""
    return bool(target.get("name")) and bool(ctx.roles & {"projectadmin"})


def _same_user(ctx: RequestContext, target: Target) -> bool:
    return target.get("subject_user_id") == ctx.user_id


def _is_trustor(ctx: RequestContext, target: Target) -> bool:
    return target.get("trustor_id") == ctx.user_id


def _is_trustee(ctx: RequestContext, target: Target) -> bool:
    return target.get("trustee_id") == ctx.user_id


owner_or_admin: Rule = any_of(admin, is_owner)
#: Cloud admins, and system-scoped readers (Keystone's SYSTEM_READER) for what they may see.
admin_or_system_reader: Rule = any_of(admin, system_reader)

RULES: dict[str, Rule] = {
    # tokens
    "identity:validate_token": any_of(admin, _same_user),
    "identity:revoke_token": any_of(admin, _same_user),
    "identity:get_auth_catalog": always,
    "identity:get_auth_projects": always,
    "identity:get_auth_domains": always,
    "identity:get_auth_system": always,
    # domains
    "identity:create_domain": admin,
    "identity:list_domains": admin_or_system_reader,
    "identity:get_domain": any_of(admin, system_reader,
                                  in_domain("admin", "projectadmin", "member", "reader"),
                                  lambda ctx, t: t.get("domain_id") == ctx.project_domain_id),
    "identity:update_domain": admin,
    "identity:delete_domain": admin,
    # projects
    "identity:create_project": admin,
    "identity:list_projects": admin_or_system_reader,
    "identity:get_project": any_of(admin, project_reader, system_reader),
    "identity:update_project": admin,
    "identity:delete_project": admin,
    "identity:list_user_projects": owner_or_admin,
    # users
    "identity:create_user": admin,
    "identity:list_users": any_of(admin, _lookup_by_name, system_reader),
    "identity:get_user": any_of(admin, is_owner, system_reader),
    "identity:update_user": admin,
    "identity:delete_user": admin,
    "identity:change_password": is_owner,
    "identity:list_groups_for_user": owner_or_admin,
    # groups
    "identity:create_group": admin,
    "identity:list_groups": admin_or_system_reader,
    "identity:get_group": admin_or_system_reader,
    "identity:update_group": admin,
    "identity:delete_group": admin,
    "identity:list_users_in_group": admin_or_system_reader,
    "identity:add_user_to_group": admin,
    "identity:remove_user_from_group": admin,
    "identity:check_user_in_group": admin_or_system_reader,
    # roles and grants
    "identity:list_roles": always,
    "identity:get_role": always,
    "identity:create_role": admin,
    "identity:update_role": admin,
    "identity:delete_role": admin,
    "identity:list_grants": any_of(admin, system_reader, project_reader),
    "identity:check_grant": any_of(admin, system_reader, project_reader),
    "identity:create_grant": any_of(admin, _grants_project_role),
    "identity:revoke_grant": any_of(admin, _grants_project_role),
    "identity:list_role_assignments": any_of(admin, system_reader, project_reader, is_owner),
    # role inference rules
    "identity:create_implied_role": admin,
    "identity:delete_implied_role": admin,
    "identity:get_implied_role": admin_or_system_reader,
    "identity:check_implied_role": admin_or_system_reader,
    "identity:list_implied_roles": admin_or_system_reader,
    "identity:list_role_inference_rules": admin_or_system_reader,
    # unified limits: registered limits are the admin's; a project's members see its limits
    "identity:create_registered_limits": admin,
    "identity:update_registered_limit": admin,
    "identity:delete_registered_limit": admin,
    "identity:get_registered_limit": always,
    "identity:list_registered_limits": always,
    "identity:create_limits": admin,
    "identity:update_limit": admin,
    "identity:delete_limit": admin,
    "identity:get_limit": any_of(admin, system_reader, project_reader,
                                 in_domain("admin", "projectadmin", "member", "reader")),
    "identity:list_limits": always,  # a caller's list holds only what get_limit allows
    "identity:get_limit_model": always,
    # access rules of application credentials: the owner's (an admin may list and remove)
    "identity:list_access_rules": any_of(owner_or_admin, system_reader),
    "identity:get_access_rule": any_of(owner_or_admin, system_reader),
    "identity:delete_access_rule": owner_or_admin,
    # catalog
    "identity:list_regions": always,
    "identity:get_region": always,
    "identity:create_region": admin,
    "identity:update_region": admin,
    "identity:delete_region": admin,
    "identity:list_services": always,
    "identity:get_service": always,
    "identity:create_service": admin,
    "identity:update_service": admin,
    "identity:delete_service": admin,
    "identity:list_endpoints": always,
    "identity:get_endpoint": always,
    "identity:create_endpoint": admin,
    "identity:update_endpoint": admin,
    "identity:delete_endpoint": admin,
    "identity:endpoint_groups": admin,
    "identity:policies": admin,
    # application credentials: the owner's alone (an admin may list and remove them)
    "identity:create_application_credential": is_owner,
    "identity:list_application_credentials": owner_or_admin,
    "identity:get_application_credential": owner_or_admin,
    "identity:delete_application_credential": owner_or_admin,
    # credentials and EC2 credentials: the owner's (target user_id: the credential's)
    "identity:create_credential": owner_or_admin,
    "identity:list_credentials": always,  # the list shows what get_credential allows
    "identity:get_credential": owner_or_admin,
    "identity:update_credential": owner_or_admin,
    "identity:delete_credential": owner_or_admin,
    "identity:ec2_create_credential": owner_or_admin,
    "identity:ec2_list_credentials": owner_or_admin,
    "identity:ec2_get_credential": owner_or_admin,
    "identity:ec2_delete_credential": owner_or_admin,
    # trusts: the trustor's; the trustee sees them (targets: trustor_id, trustee_id)
    "identity:create_trust": lambda ctx, t: t.get("trustor_id") == ctx.user_id,
    "identity:list_trusts": admin,
    "identity:list_trusts_for_trustor": any_of(admin, _is_trustor),
    "identity:list_trusts_for_trustee": any_of(admin, _is_trustee),
    "identity:get_trust": any_of(admin, _is_trustor, _is_trustee),
    "identity:list_roles_for_trust": any_of(admin, _is_trustor, _is_trustee),
    "identity:get_role_for_trust": any_of(admin, _is_trustor, _is_trustee),
    "identity:delete_trust": any_of(admin, _is_trustor),
}
