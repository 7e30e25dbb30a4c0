"""The network HTTP API (Neutron v2.0), served under ``/network``: discovery, extensions,
and networks and subnets read from today's model."""

from __future__ import annotations

from labs.common.context import Authenticator
from labs.common.http import Api
from labs.common.policy import Policy
from labs.network.api import discovery, networks
from labs.network.api.base import NeutronApi
from labs.network.policy import RULES
from labs.network.service import NetworkService


def build_api(service: NetworkService, authenticator: Authenticator) -> Api:
    api = NeutronApi("network")
    api.authenticator = authenticator
    api.policy = Policy(RULES)
    for module in (discovery, networks):
        module.register(api, service)
    return api
