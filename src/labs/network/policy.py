"""Who may read the network API, and change networks, subnets, routers, floating IPs, security
groups and quotas. Which networks a caller sees is the topology's job (its project's, the
shared ones and the external one; every project's for admins); these rules say which
roles may look at all, and what only admins may set."""

from __future__ import annotations

from labs.common.policy import Rule, admin, always, role

#: Any role in the token's project (an unscoped token has none).
reader = role("admin", "projectadmin", "member", "reader")
#: A role that changes the project's resources.
member = role("admin", "projectadmin", "member")

RULES: dict[str, Rule] = {
    "network:get_extension": always,
    "network:get_network": reader,
    "network:get_subnet": reader,
    "network:create_network": member,
    "network:update_network": member,
    "network:delete_network": member,
    "network:create_subnet": member,
    "network:update_subnet": member,
    "network:delete_subnet": member,
    # a network seen by every project, or another project's (Neutron's rules: admins)
    "network:create_network:shared": admin,
    "network:update_network:shared": admin,
    "network:create_network:router:external": admin,
    "network:update_network:router:external": admin,
    # networks and subnets of a project other than the caller's
    "network:create_network:project_id": admin,
    "network:create_subnet:project_id": admin,
    "network:get_router": reader,
    "network:create_router": member,
    "network:update_router": member,
    "network:delete_router": member,
    "network:add_router_interface": member,
    "network:remove_router_interface": member,
    "network:create_router:project_id": admin,
    "network:get_port": reader,
    "network:create_port": member,
    "network:update_port": member,
    "network:delete_port": member,
    # ports of another project, a chosen MAC and the host binding (Neutron's: admins)
    "network:create_port:project_id": admin,
    "network:create_port:mac_address": admin,
    "network:create_port:binding:host_id": admin,
    "network:update_port:binding:host_id": admin,
    "network:get_port:binding:host_id": admin,
    # a port without port security, or with address pairs, on a network of another
    # project's (a shared one): it could send as the others' ports or the gateway; or
    # with an address chosen there (Neutron's admin_or_network_owner; the network's
    # owner needs no rule)
    "network:create_port:fixed_ips:ip_address": admin,
    "network:create_port:port_security_enabled": admin,
    "network:create_port:allowed_address_pairs": admin,
    "network:update_port:port_security_enabled": admin,
    "network:update_port:allowed_address_pairs": admin,
    "network:get_floatingip": reader,
    "network:create_floatingip": member,
    "network:update_floatingip": member,
    "network:delete_floatingip": member,
    "network:get_security_group": reader,
    "network:create_security_group": member,
    "network:update_security_group": member,
    "network:delete_security_group": member,
    "network:get_security_group_rule": reader,
    "network:create_security_group_rule": member,
    "network:delete_security_group_rule": member,
    # a project's quotas (another project's also need network:all_projects)
    "network:get_quota": reader,
    "network:update_quota": admin,
    "network:delete_quota": admin,
    # a floating IP's own address chosen at create (Neutron's rule: admins only)
    "network:create_floatingip:floating_ip_address": admin,
    # every project's networks, subnets, ports and floating IPs, not only the caller's
    "network:all_projects": admin,
}
