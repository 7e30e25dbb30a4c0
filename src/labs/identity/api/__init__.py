"""The identity HTTP API (Keystone v3)."""

from __future__ import annotations

from labs.common.http import Api, keystone_error
from labs.common.policy import Policy
from labs.identity.api import (
    access_rules,
    auth,
    catalog,
    credentials,
    discovery,
    endpoint_groups,
    implied_roles,
    limits,
    projects,
    roles,
    trusts,
    users,
)
from labs.identity.policy import RULES
from labs.identity.service import IdentityService


def build_api(identity: IdentityService) -> Api:
    api = Api("identity", render_error=keystone_error)
    api.authenticator = identity.tokens
    api.policy = Policy(RULES)
    for module in (discovery, auth, projects, users, roles, implied_roles, catalog, limits,
                   access_rules, credentials, trusts, endpoint_groups):
        module.register(api, identity)
    return api
