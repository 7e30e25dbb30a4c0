"""The compute HTTP API (Nova v2.1 with microversions 2.1 to 2.100)."""

from __future__ import annotations

from labs.common.context import Authenticator
from labs.common.http import Api, Microversions, nova_error
from labs.common.policy import Policy
from labs.compute.api.routes import (
    aggregates,
    consoles,
    discovery,
    flavors,
    floating_ips,
    hosts,
    images,
    interfaces,
    keypairs,
    limits,
    migrations,
    networks,
    security_groups,
    server_actions,
    server_groups,
    servers,
    usage,
)
from labs.compute.api.service import ComputeService
from labs.compute.policy import RULES

#: The newest microversion of this API: the one today's openstacksdk asks for.
MICROVERSIONS = Microversions("compute", (2, 1), (2, 100), "X-OpenStack-Nova-API-Version")


def build_api(service: ComputeService, authenticator: Authenticator) -> Api:
    api = Api("compute", render_error=nova_error)
    api.authenticator = authenticator
    api.policy = Policy(RULES)
    api.microversions = MICROVERSIONS
    api.request_id_header = "x-compute-request-id"
    for module in (discovery, servers, server_actions, flavors, keypairs, server_groups,
                   limits, hosts, aggregates, consoles, security_groups, floating_ips,
                   interfaces, images, networks, usage, migrations):
        module.register(api, service)
    return api
