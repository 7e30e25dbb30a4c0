"""The network HTTP API (Neutron v2.0), served under ``/network``: discovery, extensions,
networks, subnets and routers (made, changed and deleted here), ports read from today's model,
floating IPs and security groups (changed through compute's `Associations` and
`GroupUse`: without them, a process serves them read-only), quotas, and the tags of
networks, subnets, floating IPs and security groups."""

from __future__ import annotations

from labs.common.context import Authenticator
from labs.common.http import Api
from labs.common.policy import Policy
from labs.network.api import (
    discovery,
    floatingips,
    networks,
    ports,
    quotas,
    routers,
    security_groups,
    subnets,
    tagging,
)
from labs.network.api.base import NeutronApi
from labs.network.floating_ips import Associations
from labs.network.group_use import GroupUse
from labs.network.policy import RULES
from labs.network.port_use import PortUse
from labs.network.service import NetworkService


def build_api(service: NetworkService, authenticator: Authenticator,
              associations: Associations | None = None,
              group_use: GroupUse | None = None, port_use: PortUse | None = None) -> Api:
    api = NeutronApi("network")
    api.authenticator = authenticator
    api.policy = Policy(RULES)
    for module in (discovery, networks, quotas):
        module.register(api, service)
    routers.register(api, service, group_use)
    subnets.register(api, service, group_use)
    ports.register(api, service, port_use, group_use)
    floatingips.register(api, service, associations)
    security_groups.register(api, service, group_use)
    tagging.register(api, service)
    return api
