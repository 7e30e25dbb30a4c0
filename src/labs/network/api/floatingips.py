"""Floating IPs (``/v2.0/floatingips``): the addresses of the external network a project
allocates and associates with one of its ports, over the same rows and the same path as
compute's ``os-floating-ips``: allocation under compute's quota, association through
compute (the server's addresses follow, its host is told) with a port whose subnet a
router joins to the external network (its ``router_id``).

Today's floating IPs are numbered rows: the API's id is derived from the number
(`floating_id_of`), the same on every read.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable
from labs.common.http import Api, Call
from labs.network.api import listing, views
from labs.network.api.base import allowed, expected_revision
from labs.network.api.listing import Collection, Item
from labs.network.api.networks import FIELDS
from labs.network.api.tagging import tagged
from labs.network.errors import (
    BadFloatingIpRequest,
    ExternalGatewayForFloatingIPNotFound,
    FloatingIPNotFound,
    IpAddressGenerationFailure,
    OverQuota,
    PortNotFound,
)
from labs.network.floating_ips import Associations, FloatingIpRecord, floating_id_of
from labs.network.ports import PortRecord
from labs.network.revisions import RevisionNumberConstraintFailed
from labs.network.service import NetworkService

FLOATINGIPS = listing.taggable(Collection(
    "floatingip", "floatingips",
    {"id": "str", "project_id": "str", "tenant_id": "str", "description": "str",
     "revision_number": "int", "floating_ip_address": "str", "floating_network_id": "str",
     "port_id": "str", "fixed_ip_address": "str", "router_id": "str", "status": "str"},
    ("id", "project_id", "tenant_id", "floating_ip_address", "floating_network_id",
     "port_id", "fixed_ip_address", "status", "created_at", "updated_at"),
    FloatingIPNotFound))
_ID = {"type": "string", "minLength": 1, "maxLength": 255}
_NULLABLE = {"type": ["string", "null"], "maxLength": 255}
CREATE = {"type": "object", "required": ["floatingip"], "additionalProperties": False,
          "properties": {"floatingip": {
              "type": "object", "required": ["floating_network_id"],
              "additionalProperties": False,
              "properties": {"floating_network_id": _ID, "port_id": _NULLABLE,
                             "fixed_ip_address": {"type": ["string", "null"],
                                                  "format": "ipv4"},
                             "floating_ip_address": {"type": "string", "format": "ipv4"},
                             "project_id": _ID, "tenant_id": _ID}}}}
UPDATE = {"type": "object", "required": ["floatingip"], "additionalProperties": False,
          "properties": {"floatingip": {
              "type": "object", "additionalProperties": False,
              "properties": {"port_id": _NULLABLE,
                             "fixed_ip_address": {"type": ["string", "null"],
                                                  "format": "ipv4"}}}}}


def fixed_address(asked: dict[str, Any]) -> str | None:
    """The body's ``fixed_ip_address``, an IPv4 address (400 otherwise)."""
    value = asked.get("fixed_ip_address")
    if value is None:
        return None
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise BadRequest(f"Invalid input for fixed_ip_address. Reason: '{value}' is not "
                         "a valid IP address.") from None


class FloatingIpsApi:
    """What the handlers ask: the caller's floating IPs and ports, and the changes made
    through compute (`associations`; none in a process without compute: 503)."""

    def __init__(self, network: NetworkService, associations: Associations | None) -> None:
        self.network = network
        self.associations = associations

    def changer(self) -> Associations:
        if self.associations is None:
            raise ServiceUnavailable("This network API process changes no floating IPs.")
        return self.associations

    def shown(self, records: list[FloatingIpRecord]) -> list[Item]:
        """The floating IPs as the API shows them, each with the router it comes in
        through."""
        external = self.network.topology.external().id
        routers = self.network.routers.of_instances(
            [r.instance_id for r in records if r.instance_id])
        return [views.floatingip(r, floating_id_of(r.id), external,
                                 routers.get(r.instance_id or "")) for r in records]

    def visible(self, call: Call, rule: str) -> list[Item]:
        ctx = call.enforce(rule)
        return tagged(self.network, "floatingips", self.shown(
            self.network.floating_ips.list_allocated(
                ctx.project_id, every_project=allowed(call, "network:all_projects"))))

    def constrained(self, call: Call, ctx: RequestContext, ident: str
                    ) -> FloatingIpRecord:
        """The caller's floating IP `ident`, at the ``If-Match`` revision if one is
        asked (412 otherwise)."""
        expected = expected_revision(call)
        record = self.mine(ctx, ident)
        if expected is not None and record.revision_number != expected:
            raise RevisionNumberConstraintFailed(expected, record.revision_number)
        return record

    def mine(self, ctx: RequestContext, ident: str) -> FloatingIpRecord:
        """The caller's project's floating IP `ident` (404 for any other)."""
        for record in self.network.floating_ips.list_allocated(ctx.project_id):
            if floating_id_of(record.id) == ident:
                return record
        raise FloatingIPNotFound(ident)

    def port(self, ctx: RequestContext, port_id: str) -> PortRecord:
        """The caller's port `port_id`, if a router joins its subnet to the external
        network (Neutron's 404s otherwise)."""
        found = self.network.ports.find(ctx.project_id, port_id)
        if found is None:
            raise PortNotFound(port_id)
        if self.network.routers.gateway_router(found.subnet_id) is None:
            raise ExternalGatewayForFloatingIPNotFound(
                self.network.topology.external().id, found.subnet_id, port_id)
        return found

    def allocate(self, ctx: RequestContext, network_id: str) -> FloatingIpRecord:
        external = self.network.topology.external()
        if network_id != external.id:
            raise BadFloatingIpRequest(f"Network {network_id} is not a valid external "
                                       "network")
        try:
            return self.changer().allocate_floating(ctx, external.name)
        except Forbidden:
            raise OverQuota("floatingip") from None
        except NotFound:
            raise IpAddressGenerationFailure(network_id) from None

    def point(self, ctx: RequestContext, record: FloatingIpRecord, port_id: str | None,
              fixed: str | None, expected: int | None = None) -> None:
        """Associate the address with `port_id`'s instance (moved from its present one
        in the same transaction), or with None take it from its instance; at revision
        `expected` only, if given, checked in that transaction."""
        target = self.port(ctx, port_id) if port_id is not None else None
        if target is not None and (target.instance_id is None or not target.address):
            raise BadFloatingIpRequest(f"Port {port_id} is not bound to a server with a "
                                       "fixed IP")
        if target is not None and fixed not in (None, target.address):
            raise BadFloatingIpRequest(f"Port {port_id} does not have fixed ip {fixed}")
        if target is None and record.instance_id is not None:
            self.changer().disassociate_floating(ctx, record.instance_id, record.address,
                                                 expected_revision=expected)
        elif target is not None and target.instance_id not in (None, record.instance_id):
            self.changer().associate_floating(ctx, target.instance_id or "",
                                              record.address, target.address,
                                              expected_revision=expected, move=True)

    def reread(self, ctx: RequestContext, record: FloatingIpRecord) -> Item:
        return {"floatingip": tagged(self.network, "floatingips", self.shown(
            [self.mine(ctx, floating_id_of(record.id))]))[0]}


def register(api: Api, network: NetworkService, associations: Associations | None) -> None:
    fips = FloatingIpsApi(network, associations)

    @api.get("/v2.0/floatingips", query=FLOATINGIPS.query())
    def list_floatingips(call: Call) -> dict[str, Any]:
        """List the floating IPs the caller sees (filters, fields, sorting, paging)."""
        return listing.answer(call, FLOATINGIPS,
                              fips.visible(call, "network:get_floatingip"))

    @api.get("/v2.0/floatingips/{floatingip_id}", query=FIELDS)
    def show_floatingip(call: Call) -> dict[str, Any]:
        """Show a floating IP."""
        return listing.one(call, FLOATINGIPS, fips.visible(call, "network:get_floatingip"),
                           call.params["floatingip_id"])

    @api.post("/v2.0/floatingips", schema=CREATE, status=201)
    def create_floatingip(call: Call) -> dict[str, Any]:
        """Allocate an address of the external network, associated with a port if one
        is given."""
        ctx = call.enforce("network:create_floatingip")
        asked = call.body["floatingip"]
        fixed = fixed_address(asked)
        if "floating_ip_address" in asked:
            call.enforce("network:create_floatingip:floating_ip_address")
            raise BadFloatingIpRequest("choosing the address is not supported")
        if asked.get("project_id", ctx.project_id) != ctx.project_id or \
                asked.get("tenant_id", ctx.project_id) != ctx.project_id:
            raise BadFloatingIpRequest("floating IPs are made only for the caller's project")
        if asked.get("port_id") is not None:
            fips.port(ctx, asked["port_id"])  # before allocating
        record = fips.allocate(ctx, asked["floating_network_id"])
        try:
            fips.point(ctx, record, asked.get("port_id"), fixed)
        except Exception:
            fips.changer().release_floating(ctx, str(record.id))  # as if never made
            raise
        return fips.reread(ctx, record)

    @api.put("/v2.0/floatingips/{floatingip_id}", schema=UPDATE)
    def update_floatingip(call: Call) -> dict[str, Any]:
        """Associate the floating IP with a port, or (``port_id: null``) with none."""
        ctx = call.enforce("network:update_floatingip")
        record = fips.constrained(call, ctx, call.params["floatingip_id"])
        asked = call.body["floatingip"]
        fixed = fixed_address(asked)
        if "port_id" in asked:
            fips.point(ctx, record, asked["port_id"], fixed, expected_revision(call))
        return fips.reread(ctx, record)

    @api.delete("/v2.0/floatingips/{floatingip_id}")
    def delete_floatingip(call: Call) -> None:
        """Give the address back (taken from its port first)."""
        ctx = call.enforce("network:delete_floatingip")
        record = fips.constrained(call, ctx, call.params["floatingip_id"])
        fips.changer().release_floating(ctx, str(record.id),
                                        expected_revision=expected_revision(call))
