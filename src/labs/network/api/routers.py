"""Routers (``/v2.0/routers``): a project's routers, listed, shown, made, changed and
deleted by its members, with a gateway on the external network
(``external_gateway_info``) and subnets joined to them (``add_router_interface``,
``remove_router_interface`` by ``subnet_id``, or removed by the ``port_id`` its
interface shows as: `labs.network.router_ports`).

A change that alters how hosts route (a gateway set or cleared on a router with subnets,
a subnet added or removed) has the hosts running the project's servers read their
networks again (compute's `GroupUse.routers_changed`; none in a process without compute:
hosts pick it up when they next reconcile).

Routers carry SNAT always (``enable_snat`` true; Labs does not list ``ext-gw-mode``); a
gateway's address is the cloud's to choose.
"""

from __future__ import annotations

from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import BadRequest
from labs.common.http import Api, Call
from labs.network.api import listing, views
from labs.network.api.base import allowed
from labs.network.api.listing import Collection
from labs.network.api.networks import COMMON_FILTERS, FIELDS, owner
from labs.network.errors import (
    NetworkNotFound,
    RouterInterfaceNotFound,
    RouterNotFound,
    SubnetNotFound,
)
from labs.network.group_use import GroupUse
from labs.network.routers import RouterRecord
from labs.network.service import NetworkService
from labs.network.topology import SubnetRecord

ROUTERS = Collection(
    "router", "routers", {**COMMON_FILTERS, "status": "str", "admin_state_up": "bool"},
    ("id", "name", "project_id", "tenant_id", "status", "admin_state_up", "created_at",
     "updated_at"),
    RouterNotFound)
_TEXT = {"type": "string", "maxLength": 255}
_ID = {"type": "string", "minLength": 1, "maxLength": 255}
_GATEWAY = {"type": ["object", "null"], "additionalProperties": False, "properties": {
    "network_id": _ID, "enable_snat": {"type": "boolean"},
    "external_fixed_ips": {"type": "array", "maxItems": 8, "items": {
        "type": "object", "additionalProperties": False,
        "properties": {"subnet_id": _ID, "ip_address": {"type": "string",
                                                        "maxLength": 64}}}}}}
_CHANGES = {"name": _TEXT, "description": _TEXT, "admin_state_up": {"type": "boolean"},
            "external_gateway_info": _GATEWAY}
CREATE = {"type": "object", "required": ["router"], "additionalProperties": False,
          "properties": {"router": {
              "type": "object", "additionalProperties": False,
              "properties": {**_CHANGES, "project_id": _ID, "tenant_id": _ID,
                             "distributed": {"type": "boolean", "const": False},
                             "ha": {"type": "boolean", "const": False},
                             "availability_zone_hints": {"type": "array", "maxItems": 0}}}}}
UPDATE = {"type": "object", "required": ["router"], "additionalProperties": False,
          "properties": {"router": {"type": "object", "additionalProperties": False,
                                    "properties": _CHANGES}}}
INTERFACE = {"type": "object", "additionalProperties": False,
             "properties": {"subnet_id": _ID, "port_id": _ID}}


class RoutersApi:
    """What the handlers ask of the network service, as the caller may see it."""

    def __init__(self, network: NetworkService, group_use: GroupUse | None = None) -> None:
        self.network = network
        self.group_use = group_use

    def routed(self, project_id: str) -> None:
        """The project's routing changed: its hosts follow."""
        if self.group_use is not None:
            self.group_use.routers_changed(project_id)

    def visible(self, call: Call) -> list[RouterRecord]:
        ctx = call.enforce("network:get_router")
        return self.network.routers.visible(
            ctx.project_id, every_project=allowed(call, "network:all_projects"))

    def shown(self, record: RouterRecord) -> dict[str, Any]:
        return views.router(record, self.network.topology.external())

    def one(self, call: Call, ident: str) -> dict[str, Any]:
        return listing.one(call, ROUTERS, [self.shown(r) for r in self.visible(call)], ident)

    def changeable(self, call: Call, rule: str) -> RouterRecord:
        """The router the path names: 404 if the caller does not see it, 403 if it may
        not change it."""
        ident = call.params["router_id"]
        found = next((r for r in self.visible(call) if r.id == ident), None)
        if found is None:
            raise RouterNotFound(ident)
        call.enforce(rule)
        return found

    def gateway(self, asked: dict[str, Any] | None) -> bool:
        """Whether ``external_gateway_info`` asks for a gateway (400 for what Labs
        cannot give, 404 for a network the caller does not know)."""
        if not asked:
            return False
        if "network_id" not in asked:
            raise BadRequest("Invalid input for external_gateway_info. Reason: network_id "
                             "is required.")
        external = self.network.topology.external()
        if asked["network_id"] != external.id:
            if self.network.networks.record(asked["network_id"]) is None:
                raise NetworkNotFound(asked["network_id"])
            raise BadRequest(f"Bad router request: Network {asked['network_id']} is not an "
                             "external network.")
        if asked.get("enable_snat", True) is not True:
            raise BadRequest("Bad router request: Labs routers always translate their "
                             "networks' outbound addresses (enable_snat is true).")
        for fixed in asked.get("external_fixed_ips") or []:
            if fixed.get("subnet_id", external.subnet_ids[0]) not in external.subnet_ids:
                raise BadRequest(f"Bad router request: subnet {fixed['subnet_id']} is not "
                                 f"a subnet of the external network {external.id}.")
            if "ip_address" in fixed:
                raise BadRequest("Bad router request: a router's external address is the "
                                 "cloud's to choose; give no ip_address.")
        return True

    def subnet(self, call: Call, router: RouterRecord, body: dict[str, Any]) -> SubnetRecord:
        """The subnet an interface request names: the router's project's (404 for any
        other, 400 for a request by port or with neither)."""
        if "port_id" in body and "subnet_id" in body:
            raise BadRequest("Bad router request: Cannot specify both subnet-id and "
                             "port-id.")
        if "port_id" in body:
            raise BadRequest("Bad router request: Labs joins subnets to routers by "
                             "subnet_id; ports cannot be given yet.")
        if "subnet_id" not in body:
            raise BadRequest("Bad router request: Either subnet_id or port_id must be "
                             "specified.")
        ident = body["subnet_id"]
        found = next((s for s in self.network.topology.subnets(
            router.project_id) if s.id == ident and s.project_id == router.project_id), None)
        if found is None:
            raise SubnetNotFound(ident)
        return found


def interface_body(router: RouterRecord, port_id: str, subnet_id: str,
                   network_id: str) -> dict[str, Any]:
    """Neutron's answer to an interface change."""
    return {"id": router.id, "tenant_id": router.project_id,
            "project_id": router.project_id, "port_id": port_id, "network_id": network_id,
            "subnet_id": subnet_id, "subnet_ids": [subnet_id]}


def register(api: Api, network: NetworkService, group_use: GroupUse | None = None) -> None:
    routers = RoutersApi(network, group_use)

    @api.get("/v2.0/routers", query=ROUTERS.query())
    def list_routers(call: Call) -> dict[str, Any]:
        """List the routers the caller sees (filters, fields, sorting, paging)."""
        return listing.answer(call, ROUTERS, [routers.shown(r)
                                              for r in routers.visible(call)])

    @api.get("/v2.0/routers/{router_id}", query=FIELDS)
    def show_router(call: Call) -> dict[str, Any]:
        """Show a router."""
        return routers.one(call, call.params["router_id"])

    @api.post("/v2.0/routers", schema=CREATE, status=201)
    def create_router(call: Call) -> dict[str, Any]:
        """Make a router, with a gateway on the external network if asked."""
        ctx: RequestContext = call.enforce("network:create_router")
        asked = call.body["router"]
        project = owner(call, ctx, asked, "create_router")
        gateway = routers.gateway(asked.get("external_gateway_info"))
        return routers.one(call, network.routers.create(project, asked, gateway))

    @api.put("/v2.0/routers/{router_id}", schema=UPDATE)
    def update_router(call: Call) -> dict[str, Any]:
        """Change a router's name, description, state or gateway."""
        found = routers.changeable(call, "network:update_router")
        asked = call.body["router"]
        gateway = routers.gateway(asked["external_gateway_info"]) \
            if "external_gateway_info" in asked else None
        network.routers.update(found.id, asked, gateway)
        if gateway is not None and gateway != found.external_gateway and found.interfaces:
            routers.routed(found.project_id)
        return routers.one(call, found.id)

    @api.delete("/v2.0/routers/{router_id}")
    def delete_router(call: Call) -> None:
        """Delete a router (409 while subnets are joined to it)."""
        found = routers.changeable(call, "network:delete_router")
        network.routers.delete(found.id)

    @api.put("/v2.0/routers/{router_id}/add_router_interface", schema=INTERFACE)
    def add_router_interface(call: Call) -> dict[str, Any]:
        """Join a subnet of the router's project to the router."""
        found = routers.changeable(call, "network:add_router_interface")
        subnet = routers.subnet(call, found, call.body)
        made = network.routers.add_interface(found.id, subnet)
        routers.routed(found.project_id)
        return interface_body(found, made.id, made.subnet_id, made.network_id)

    @api.put("/v2.0/routers/{router_id}/remove_router_interface", schema=INTERFACE)
    def remove_router_interface(call: Call) -> dict[str, Any]:
        """Take a subnet off the router."""
        found = routers.changeable(call, "network:remove_router_interface")
        body = call.body
        if "port_id" in body and "subnet_id" not in body:  # the interface's port
            joined = next((i for i in found.interfaces if i.id == body["port_id"]), None)
            if joined is None:
                raise RouterInterfaceNotFound(found.id, body["port_id"])
            body = {"subnet_id": joined.subnet_id}
        if "subnet_id" not in body or "port_id" in body:
            routers.subnet(call, found, body)  # the same 400s as adding
        gone = network.routers.remove_interface(found.id, body["subnet_id"])
        routers.routed(found.project_id)
        return interface_body(found, gone.id, gone.subnet_id, gone.network_id)
