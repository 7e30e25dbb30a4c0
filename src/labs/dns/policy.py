"""Who may do what with DNS data. Which project's zones a caller sees is the service's
job (`scope.Caller`); these rules say which roles may try at all."""

from __future__ import annotations

from labs.common.policy import Rule, admin, always, any_of, project_reader, role

#: Roles that may change things in their project (a reader only looks).
writer = role("admin", "projectadmin", "member")

RULES: dict[str, Rule] = {
    "dns:get_zone": always,
    "dns:find_zones": always,
    "dns:create_zone": writer,
    "dns:update_zone": writer,
    "dns:delete_zone": writer,
    "dns:get_zone_ns_records": always,
    "dns:get_recordset": always,
    "dns:find_recordsets": always,
    "dns:create_recordset": writer,
    "dns:update_recordset": writer,
    "dns:delete_recordset": writer,
    # the headers that widen a caller's reach: admins only
    "dns:all_projects": admin,
    "dns:sudo": admin,
    "dns:edit_managed_records": admin,
    "dns:create_tld": admin,
    "dns:find_tlds": admin,
    "dns:get_tld": admin,
    "dns:update_tld": admin,
    "dns:delete_tld": admin,
    "dns:create_blacklist": admin,
    "dns:find_blacklists": admin,
    "dns:get_blacklist": admin,
    "dns:update_blacklist": admin,
    "dns:delete_blacklist": admin,
    "dns:find_pools": admin,
    "dns:get_pool": admin,
    "dns:find_service_statuses": admin,
    "dns:get_service_status": admin,
    "dns:create_zone_export": writer,
    "dns:find_zone_exports": always,
    "dns:get_zone_export": always,
    "dns:delete_zone_export": writer,
    "dns:create_zone_import": writer,
    "dns:find_zone_imports": always,
    "dns:get_zone_import": always,
    "dns:delete_zone_import": writer,
    "dns:create_zone_transfer_request": writer,
    "dns:find_zone_transfer_requests": always,
    "dns:get_zone_transfer_request": always,
    "dns:update_zone_transfer_request": writer,
    "dns:delete_zone_transfer_request": writer,
    "dns:create_zone_transfer_accept": writer,
    "dns:find_zone_transfer_accepts": always,
    "dns:get_zone_transfer_accept": always,
    "dns:list_floatingips": always,
    "dns:get_floatingip": always,
    "dns:set_floatingip": writer,
    "dns:tsigkeys": admin,
    "dns:share_zone": writer,
    "dns:find_zone_shares": always,
    "dns:get_quotas": any_of(admin, project_reader),
    "dns:get_limits": always,
    "dns:set_quota": admin,
    "dns:reset_quotas": admin,
}
