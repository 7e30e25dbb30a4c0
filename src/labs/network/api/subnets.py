"""Subnets (``/v2.0/subnets``): those of the networks the caller sees, listed and shown;
made, changed and deleted by the network's project (Labs networks carry one IPv4
subnet, whose addresses are made with it)."""

from __future__ import annotations

from typing import Any

from labs.common.errors import BadRequest, Forbidden
from labs.common.http import Api, Call
from labs.network.api import listing, views
from labs.network.api.base import allowed, expected_revision
from labs.network.api.listing import Collection
from labs.network.api.networks import COMMON_FILTERS, FIELDS, PROJECT_ID, owner
from labs.network.api.tagging import tagged
from labs.network.errors import NetworkNotFound, SubnetNotFound
from labs.network.group_use import GroupUse
from labs.network.service import NetworkService
from labs.network.topology import NetworkRecord, SubnetRecord

SUBNETS = listing.taggable(Collection(
    "subnet", "subnets",
    {**COMMON_FILTERS, "network_id": "str", "cidr": "str", "gateway_ip": "str",
     "ip_version": "int", "enable_dhcp": "bool"},
    ("id", "name", "project_id", "tenant_id", "network_id", "cidr", "gateway_ip",
     "ip_version", "enable_dhcp", "created_at", "updated_at"),
    SubnetNotFound))
_TEXT = {"type": "string", "maxLength": 255}
_ID = {"type": "string", "minLength": 1, "maxLength": 255}
_ADDRESS = {"type": "string", "maxLength": 64}
_POOLS = {"type": "array", "maxItems": 64, "items": {
    "type": "object", "required": ["start", "end"], "additionalProperties": False,
    "properties": {"start": _ADDRESS, "end": _ADDRESS}}}
_DNS = {"type": ["array", "null"], "maxItems": 5, "items": _ADDRESS}
_ROUTES = {"type": ["array", "null"], "maxItems": 20, "items": {
    "type": "object", "required": ["destination", "nexthop"], "additionalProperties": False,
    "properties": {"destination": _ADDRESS, "nexthop": _ADDRESS}}}
_CHANGES = {"name": _TEXT, "description": _TEXT, "enable_dhcp": {"type": "boolean"},
            "dns_nameservers": _DNS, "host_routes": _ROUTES,
            "gateway_ip": {"type": ["string", "null"], "maxLength": 64},
            "allocation_pools": _POOLS}
_NONE = {"type": "null"}
CREATE = {"type": "object", "required": ["subnet"], "additionalProperties": False,
          "properties": {"subnet": {
              "type": "object", "required": ["network_id", "cidr"],
              "additionalProperties": False,
              "properties": {**_CHANGES, "network_id": _ID, "cidr": {"type": "string",
                                                                    "maxLength": 64},
                             "ip_version": {"type": "integer"}, "project_id": PROJECT_ID,
                             "tenant_id": PROJECT_ID, "subnetpool_id": _NONE,
                             "ipv6_ra_mode": _NONE, "ipv6_address_mode": _NONE,
                             "use_default_subnetpool": {"type": "boolean", "const": False},
                             "segment_id": _NONE,
                             "service_types": {"type": "array", "maxItems": 0}}}}}
UPDATE = {"type": "object", "required": ["subnet"], "additionalProperties": False,
          "properties": {"subnet": {"type": "object", "additionalProperties": False,
                                    "properties": _CHANGES}}}


#: What a subnet's hosts serve (DHCP, its name servers and routes): a change to one is
#: applied by the hosts of the servers on its network.
SERVED = ("enable_dhcp", "dns_nameservers", "host_routes")


def register(api: Api, network: NetworkService, use: GroupUse | None = None) -> None:
    def visible(call: Call) -> list[NetworkRecord]:
        ctx = call.enforce("network:get_subnet")
        return network.topology.networks(
            ctx.project_id, every_project=allowed(call, "network:all_projects"))

    def shown(call: Call, ident: str) -> dict[str, Any]:
        return listing.one(call, SUBNETS, tagged(network, "subnets", [
            views.subnet(s) for r in visible(call) for s in r.subnets]), ident)

    def owned_network(call: Call, network_id: str, action: str) -> NetworkRecord:
        """The network the caller changes subnets of: 404 if it does not see it, 403 if
        it sees it (shared, external) without owning it."""
        found = next((r for r in visible(call) if r.id == network_id), None)
        if found is None:
            raise NetworkNotFound(network_id)
        ctx = call.enforce(f"network:{action}")
        if found.external or (found.project_id != ctx.project_id
                              and not allowed(call, "network:all_projects")):
            raise Forbidden(f"(rule:{action}) is disallowed by policy")
        return found

    def changeable(call: Call, action: str) -> SubnetRecord:
        ident = call.params["subnet_id"]
        found = next((s for r in visible(call) for s in r.subnets if s.id == ident), None)
        if found is None:
            raise SubnetNotFound(ident)
        owned_network(call, found.network_id, action)
        return found

    @api.get("/v2.0/subnets", query=SUBNETS.query())
    def list_subnets(call: Call) -> dict[str, Any]:
        """List the subnets the caller sees (filters, fields, sorting, paging)."""
        return listing.answer(call, SUBNETS, tagged(network, "subnets", [
            views.subnet(s) for r in visible(call) for s in r.subnets]))

    @api.get("/v2.0/subnets/{subnet_id}", query=FIELDS)
    def show_subnet(call: Call) -> dict[str, Any]:
        """Show a subnet."""
        return shown(call, call.params["subnet_id"])

    @api.post("/v2.0/subnets", schema=CREATE, status=201)
    def create_subnet(call: Call) -> dict[str, Any]:
        """Give a network its IPv4 subnet: its range, gateway and allocation pools (the
        addresses its servers get)."""
        ctx = call.enforce("network:create_subnet")
        asked = call.body["subnet"]
        if asked.get("ip_version", 4) != 4:
            raise BadRequest("Invalid input for ip_version. Reason: Labs subnets are IPv4 "
                             "(ip_version 4).")
        target = owned_network(call, asked["network_id"], "create_subnet")
        project = owner(call, ctx, asked, "create_subnet") if (
            "project_id" in asked or "tenant_id" in asked) else target.project_id
        if project != target.project_id:
            raise BadRequest("A subnet belongs to its network's project "
                             f"({target.project_id}).")
        return shown(call, network.networks.create_subnet(target, project, asked))

    @api.put("/v2.0/subnets/{subnet_id}", schema=UPDATE)
    def update_subnet(call: Call) -> dict[str, Any]:
        """Change a subnet's name, description, DHCP, name servers, host routes."""
        found = changeable(call, "update_subnet")
        network.networks.update_subnet(found.id, call.body["subnet"],
                                       expected_revision(call))
        if use is not None and any(k in call.body["subnet"] for k in SERVED):
            for project_id in sorted({p.project_id for p in network.ports.list(
                    None, every_project=True, filters={"network_id": [found.network_id]})
                    if p.instance_id}):
                use.rules_changed(project_id)
        return shown(call, found.id)

    @api.delete("/v2.0/subnets/{subnet_id}")
    def delete_subnet(call: Call) -> None:
        """Delete a subnet and its addresses (409 while servers hold any)."""
        found = changeable(call, "delete_subnet")
        network.networks.delete_subnet(found.id, expected_revision(call))
