"""Networks and subnets (``/v2.0/networks``, ``/v2.0/subnets``), read-only at this step:
other methods answer 405."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call
from labs.network.api import listing, views
from labs.network.api.base import allowed
from labs.network.api.listing import Collection
from labs.network.errors import NetworkNotFound, SubnetNotFound
from labs.network.service import NetworkService
from labs.network.topology import NetworkRecord

COMMON_FILTERS: dict[str, listing.Kind] = {
    "id": "str", "name": "str", "project_id": "str", "tenant_id": "str",
    "description": "str", "revision_number": "int"}
NETWORKS = Collection(
    "network", "networks",
    {**COMMON_FILTERS, "status": "str", "admin_state_up": "bool", "shared": "bool",
     "router:external": "bool", "mtu": "int"},
    ("id", "name", "project_id", "tenant_id", "status", "admin_state_up", "shared",
     "router:external", "mtu", "created_at", "updated_at"),
    NetworkNotFound)
SUBNETS = Collection(
    "subnet", "subnets",
    {**COMMON_FILTERS, "network_id": "str", "cidr": "str", "gateway_ip": "str",
     "ip_version": "int", "enable_dhcp": "bool"},
    ("id", "name", "project_id", "tenant_id", "network_id", "cidr", "gateway_ip",
     "ip_version", "enable_dhcp", "created_at", "updated_at"),
    SubnetNotFound)
FIELDS = {"fields": {"type": "string"}}


def register(api: Api, network: NetworkService) -> None:
    def visible(call: Call, rule: str) -> list[NetworkRecord]:
        """The networks the caller sees: its project's and the external one (admins:
        every project's)."""
        ctx = call.enforce(rule)
        return network.topology.networks(
            ctx.project_id, every_project=allowed(call, "network:all_projects"))

    @api.get("/v2.0/networks", query=NETWORKS.query())
    def list_networks(call: Call) -> dict[str, Any]:
        """List the networks the caller sees (filters, fields, sorting, paging)."""
        shown = [views.network(r) for r in visible(call, "network:get_network")]
        return listing.answer(call, NETWORKS, shown)

    @api.get("/v2.0/networks/{network_id}", query=FIELDS)
    def show_network(call: Call) -> dict[str, Any]:
        """Show a network."""
        shown = [views.network(r) for r in visible(call, "network:get_network")]
        return listing.one(call, NETWORKS, shown, call.params["network_id"])

    @api.get("/v2.0/subnets", query=SUBNETS.query())
    def list_subnets(call: Call) -> dict[str, Any]:
        """List the subnets the caller sees (filters, fields, sorting, paging)."""
        shown = [views.subnet(r) for r in visible(call, "network:get_subnet")]
        return listing.answer(call, SUBNETS, shown)

    @api.get("/v2.0/subnets/{subnet_id}", query=FIELDS)
    def show_subnet(call: Call) -> dict[str, Any]:
        """Show a subnet."""
        shown = [views.subnet(r) for r in visible(call, "network:get_subnet")]
        return listing.one(call, SUBNETS, shown, call.params["subnet_id"])
