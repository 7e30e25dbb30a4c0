"""Floating IPs (``os-floating-ips``, ``os-floating-ip-pools``): Nova's nova-network
proxy APIs, gone from microversion 2.36; the ``addFloatingIp`` and ``removeFloatingIp``
server actions until 2.43."""

from __future__ import annotations

import ipaddress
from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import BadRequest, NotFound
from labs.common.http import Api, Call, Reply
from labs.compute.api import network_schemas as schemas
from labs.compute.api.routes import network_views as views
from labs.compute.api.routes.security_groups import proxy_version
from labs.compute.api.service import ComputeService


def address(args: dict[str, Any], name: str) -> str | None:
    value = args.get(name)
    if value is None:
        return None
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise BadRequest(f"Invalid input for field/attribute {name}. Value: {value}. "
                         f"'{value}' is not a 'ipv4'") from None


def server_action(service: ComputeService, call: Call, ctx: RequestContext, server_id: str,
                  name: str, args: dict[str, Any]) -> None:
    """``addFloatingIp`` / ``removeFloatingIp`` (up to 2.43, as Nova)."""
    if call.at_least(2, 44):
        raise NotFound("The resource could not be found.")
    floating = address(args, "address")
    assert floating is not None  # the schema requires it
    if name == "addFloatingIp":
        service.network_proxy.associate_floating(ctx, server_id, floating,
                                                  address(args, "fixed_address"))
    else:
        service.network_proxy.disassociate_floating(ctx, server_id, floating)


def register(api: Api, service: ComputeService) -> None:
    network = service.network_proxy

    @api.get("/v2.1/os-floating-ip-pools")
    def list_floating_ip_pools(call: Call) -> dict[str, Any]:
        """The pools floating IPs come from."""
        proxy_version(call)
        call.enforce("compute:floating_ips:read")
        return {"floating_ip_pools": [{"name": name}
                                      for name in service.network.floating_ips.pools()]}

    @api.get("/v2.1/os-floating-ips")
    def list_floating_ips(call: Call) -> dict[str, Any]:
        """The addresses allocated to the project."""
        proxy_version(call)
        ctx = call.enforce("compute:floating_ips:read")
        return {"floating_ips": [views.floating_ip(r) for r in network.list_floating(ctx)]}

    @api.post("/v2.1/os-floating-ips", schema=schemas.FLOATING_IP_CREATE)
    def allocate_floating_ip(call: Call) -> dict[str, Any]:
        """Allocate an address from a pool (the default one without a body)."""
        proxy_version(call)
        ctx = call.enforce("compute:floating_ips:manage")
        row = network.allocate_floating(ctx, (call.body or {}).get("pool"))
        return {"floating_ip": views.floating_ip(row)}

    @api.get("/v2.1/os-floating-ips/{floating_ip_id}")
    def show_floating_ip(call: Call) -> dict[str, Any]:
        """One of the project's addresses."""
        proxy_version(call)
        ctx = call.enforce("compute:floating_ips:read")
        return {"floating_ip": views.floating_ip(
            network.get_floating(ctx, call.params["floating_ip_id"]))}

    @api.delete("/v2.1/os-floating-ips/{floating_ip_id}")
    def release_floating_ip(call: Call) -> Reply:
        """Give an address back to the pool (taken from its server first)."""
        proxy_version(call)
        ctx = call.enforce("compute:floating_ips:manage")
        network.release_floating(ctx, call.params["floating_ip_id"])
        return Reply(status=202)
