"""Ports (``/v2.0/ports``), read-only at this step: one per instance that holds a fixed
IP (see `labs.network.ports`); other methods answer 405."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call
from labs.network.api import listing, views
from labs.network.api.base import allowed
from labs.network.api.listing import Collection, Item
from labs.network.api.networks import COMMON_FILTERS, FIELDS
from labs.network.errors import PortNotFound
from labs.network.service import NetworkService


def _fixed_ips(item: Item, wanted: list[Any]) -> bool:
    """``?fixed_ips=ip_address=10.0.0.3`` (or ``subnet_id=...``): a port having any."""
    held = [f"{key}={value}" for fixed in item["fixed_ips"] for key, value in fixed.items()]
    return any(w in held for w in wanted)


PORTS = Collection(
    "port", "ports",
    {**COMMON_FILTERS, "network_id": "str", "mac_address": "str", "device_id": "str",
     "device_owner": "str", "status": "str", "admin_state_up": "bool", "fixed_ips": "str",
     "port_security_enabled": "bool"},
    ("id", "name", "project_id", "tenant_id", "network_id", "mac_address", "device_id",
     "device_owner", "status", "admin_state_up", "created_at", "updated_at"),
    PortNotFound, matchers={"fixed_ips": _fixed_ips})


def register(api: Api, network: NetworkService) -> None:
    def visible(call: Call) -> list[Item]:
        """The ports of the caller's project's instances (admins: every project's)."""
        ctx = call.enforce("network:get_port")
        return [views.port(r) for r in network.ports.list(
            ctx.project_id, every_project=allowed(call, "network:all_projects"))]

    @api.get("/v2.0/ports", query=PORTS.query())
    def list_ports(call: Call) -> dict[str, Any]:
        """List the ports the caller sees (filters, fields, sorting, paging)."""
        return listing.answer(call, PORTS, visible(call))

    @api.get("/v2.0/ports/{port_id}", query=FIELDS)
    def show_port(call: Call) -> dict[str, Any]:
        """Show a port."""
        return listing.one(call, PORTS, visible(call), call.params["port_id"])
