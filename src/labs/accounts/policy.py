"""Who may do what with accounts: a user with their own, cloud admins with any.

A project's sudo rules: its members and readers (and cloud admins and readers) read
them; its project admins and cloud admins change them. A caller who may not read a
project's rules is told the project does not exist, so its existence does not leak.
"""

from __future__ import annotations

from labs.common.policy import (
    Rule,
    admin,
    always,
    any_of,
    is_owner,
    project_admin,
    project_reader,
    system_reader,
)

#: Reading a project's sudo rules, and knowing that the project is there.
READ_SUDO_RULES = "accounts:get_sudo_rules"

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
    # a project's sudo rules
    READ_SUDO_RULES: any_of(admin, system_reader, project_reader),
    "accounts:create_sudo_rule": any_of(admin, project_admin),
    "accounts:update_sudo_rule": any_of(admin, project_admin),
    "accounts:delete_sudo_rule": any_of(admin, project_admin),
}
