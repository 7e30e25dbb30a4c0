"""``os-networks``: the networks a project sees, in nova-network's shape, as Nova shows
Neutron's (list and show; up to microversion 2.35, a 404 from 2.36)."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call
from labs.compute.api.routes import network_views as views
from labs.compute.api.routes.security_groups import proxy_version
from labs.compute.api.service import ComputeService


def register(api: Api, service: ComputeService) -> None:
    network = service.network_proxy

    @api.get("/v2.1/os-networks")
    def list_networks(call: Call) -> dict[str, Any]:
        """The networks the project sees (an admin: all of them)."""
        proxy_version(call)
        ctx = call.enforce("compute:networks:read")
        return {"networks": [views.network(row, ctx.is_admin)
                             for row in network.list_networks(ctx)]}

    @api.get("/v2.1/os-networks/{network_id}")
    def show_network(call: Call) -> dict[str, Any]:
        """One network."""
        proxy_version(call)
        ctx = call.enforce("compute:networks:read")
        row = network.get_network(ctx, call.params["network_id"])
        return {"network": views.network(row, ctx.is_admin)}
