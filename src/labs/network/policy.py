"""Who may read the network API. Which networks a caller sees is the topology's job (its
project's and the external one; every project's for admins); these rules say which
roles may look at all."""

from __future__ import annotations

from labs.common.policy import Rule, admin, always, role

#: Any role in the token's project (an unscoped token has none).
reader = role("admin", "projectadmin", "member", "reader")

RULES: dict[str, Rule] = {
    "network:get_extension": always,
    "network:get_network": reader,
    "network:get_subnet": reader,
    # every project's networks and subnets, not only the caller's
    "network:all_projects": admin,
}
