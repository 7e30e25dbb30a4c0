"""Who may do what in compute: every rule in one place.

Servers, key pairs and server groups belong to a project (key pairs to a user);
the service scopes every query to the caller's project, so these rules say which
roles may try at all. Flavors and zones are for everyone to read; hosts,
services, hypervisors and quota changes are for admins.
"""

from __future__ import annotations

from labs.common.policy import Rule, admin, always, role

#: Roles that may change things in their project (a reader only looks).
writer = role("admin", "projectadmin", "member")
reader = role("admin", "projectadmin", "member", "reader")

RULES: dict[str, Rule] = {
    "compute:servers:list": reader,
    "compute:servers:show": reader,
    "compute:servers:create": writer,
    "compute:servers:update": writer,
    "compute:servers:delete": writer,
    "compute:servers:action": writer,
    "compute:servers:pause": writer,
    "compute:servers:all_tenants": admin,
    "compute:servers:show_host": admin,
    "compute:servers:unlock_override": admin,
    "compute:servers:migrate_live": admin,
    "compute:migrations": admin,
    "compute:servers:shelve": writer,
    "compute:servers:shelve_offload": admin,
    "compute:servers:unshelve": writer,
    "compute:servers:unshelve_to_host": admin,
    "compute:servers:create_backup": writer,
    "compute:servers:trigger_crash_dump": writer,
    "compute:servers:resize": writer,
    "compute:servers:migrate": admin,
    "compute:flavors:read": always,
    "compute:flavors:manage": admin,
    "compute:keypairs": reader,
    "compute:keypairs:manage": writer,
    "compute:keypairs:other_user": admin,
    "compute:server_groups:read": reader,
    "compute:server_groups:manage": writer,
    "compute:limits": reader,
    "compute:limits:other_project": admin,
    "compute:quotas:show": reader,
    "compute:quotas:other_project": admin,
    "compute:quotas:update": admin,
    "compute:availability_zones": reader,
    "compute:availability_zones:detail": admin,
    "compute:services": admin,
    "compute:hypervisors": admin,
    "compute:hosts": admin,
    "compute:aggregates": admin,
    "compute:instance_actions": reader,
    "compute:security_groups:read": reader,
    "compute:security_groups:manage": writer,
    "compute:security_groups:all_tenants": admin,
    "compute:floating_ips:read": reader,
    "compute:floating_ips:manage": writer,
    "compute:interfaces:read": reader,
    "compute:images:read": reader,
    "compute:images:delete": writer,
    "compute:networks:read": reader,
    "compute:extensions": always,
    "compute:usage:list": admin,
    "compute:usage:show": reader,
    "compute:usage:other_project": admin,
    "compute:interfaces:manage": writer,
}
