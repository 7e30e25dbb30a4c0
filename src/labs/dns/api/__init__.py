"""The DNS HTTP API (Designate v2), served under ``/dns``."""

from __future__ import annotations

from labs.common.context import Authenticator
from labs.common.http import Api
from labs.common.policy import Policy
from labs.dns.api import (
    admin,
    blacklists,
    discovery,
    floatingips,
    pools,
    recordsets,
    shares,
    tasks,
    transfers,
    zones,
)
from labs.dns.api.base import DesignateApi
from labs.dns.policy import RULES
from labs.dns.service import DnsService


def build_api(service: DnsService, authenticator: Authenticator) -> Api:
    api = DesignateApi("dns")
    api.authenticator = authenticator
    api.policy = Policy(RULES)
    for module in (discovery, zones, recordsets, admin, blacklists, pools, tasks, transfers,
                   floatingips, shares):
        module.register(api, service)
    return api
