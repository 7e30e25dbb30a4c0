"""Who may do what with accounts: a user with their own, cloud admins with any."""

from __future__ import annotations

from labs.common.policy import Rule, admin, always, any_of, is_owner

#: The account's owner, whatever the role their token carries, or a cloud admin.
owner_or_admin = any_of(admin, is_owner)

RULES: dict[str, Rule] = {
    "accounts:get_account": owner_or_admin,
    "accounts:update_account": owner_or_admin,
    # disabling (or enabling) an account: cloud admins only
    "accounts:set_enabled": admin,
    "accounts:list_keys": owner_or_admin,
    "accounts:add_key": owner_or_admin,
    "accounts:remove_key": owner_or_admin,
    # what a VM asks for when someone logs in: cloud admins (the VMs' own credential)
    "accounts:authorized_keys": admin,
    # open to anyone when [accounts] self_service is on (checked by the service)
    "accounts:signup": always,
}
