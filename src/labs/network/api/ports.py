"""Ports (``/v2.0/ports``): a project's own, listed (filtered, sorted and paged in the
database: `labs.network.port_listing`), shown, made on its networks or shared ones,
changed and deleted (see `labs.network.port_changes`). ``binding:host_id`` is shown to
and set by admins only, as is a chosen MAC."""

from __future__ import annotations

from typing import Any

from labs.common.errors import BadRequest
from labs.common.http import Api, Call
from labs.network.api import listing, views
from labs.network.api.base import allowed
from labs.network.api.listing import Collection, Item
from labs.network.api.networks import COMMON_FILTERS, FIELDS, disallowed, owner
from labs.network.errors import NetworkNotFound, PortNotFound
from labs.network.group_use import GroupUse
from labs.network.port_listing import PortPage, ports_page
from labs.network.port_use import PortUse
from labs.network.ports import PortRecord
from labs.network.router_ports import interface_ports
from labs.network.service import NetworkService


def _fixed_ips(item: Item, wanted: list[Any]) -> bool:
    """``?fixed_ips=ip_address=10.0.0.3`` (or ``subnet_id=...``): a port having any."""
    held = [f"{key}={value}" for fixed in item["fixed_ips"] for key, value in fixed.items()]
    return any(w in held for w in wanted)


PORTS = Collection(
    "port", "ports",
    {**COMMON_FILTERS, "network_id": "str", "mac_address": "str", "device_id": "str",
     "device_owner": "str", "status": "str", "admin_state_up": "bool", "fixed_ips": "str",
     "port_security_enabled": "bool", "binding:host_id": "str"},
    ("id", "name", "project_id", "tenant_id", "network_id", "mac_address", "device_id",
     "device_owner", "status", "admin_state_up", "created_at", "updated_at"),
    PortNotFound, matchers={"fixed_ips": _fixed_ips})
_TEXT = {"type": "string", "maxLength": 255}
_ID = {"type": "string", "minLength": 1, "maxLength": 255}
_ADDRESS = {"type": "string", "minLength": 1, "maxLength": 64}
_FIXED = {"type": "array", "maxItems": 16, "items": {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {"subnet_id": _ID, "ip_address": _ADDRESS}}}
_PAIRS = {"type": ["array", "null"], "maxItems": 10, "items": {
    "type": "object", "required": ["ip_address"], "additionalProperties": False,
    "properties": {"ip_address": _ADDRESS, "mac_address": _ADDRESS}}}
_CHANGES = {"name": _TEXT, "description": _TEXT, "admin_state_up": {"type": "boolean"},
            "device_id": _TEXT, "device_owner": _TEXT, "binding:host_id": _TEXT,
            "security_groups": {"type": ["array", "null"], "maxItems": 16, "items": _ID},
            "port_security_enabled": {"type": "boolean"}, "allowed_address_pairs": _PAIRS}
CREATE = {"type": "object", "required": ["port"], "additionalProperties": False,
          "properties": {"port": {
              "type": "object", "required": ["network_id"], "additionalProperties": False,
              "properties": {**_CHANGES, "network_id": _ID, "project_id": _ID,
                             "tenant_id": _ID, "mac_address": _ADDRESS,
                             "fixed_ips": _FIXED}}}}
UPDATE = {"type": "object", "required": ["port"], "additionalProperties": False,
          "properties": {"port": {"type": "object", "additionalProperties": False,
                                  "properties": _CHANGES}}}


#: What a host enforces for a port: a change to one is applied by the project's hosts.
ENFORCED = ("security_groups", "port_security_enabled", "allowed_address_pairs")


def register(api: Api, network: NetworkService, port_use: PortUse | None = None,
             use: GroupUse | None = None) -> None:
    def visible(call: Call, rule: str, **filters: list[Any]) -> list[PortRecord]:
        """The ports of the caller's project (admins: every project's)."""
        ctx = call.enforce(rule)
        return network.ports.list(ctx.project_id, filters=filters,
                                  every_project=allowed(call, "network:all_projects"))

    def view(call: Call, record: PortRecord) -> Item:
        return views.port(record, allowed(call, "network:get_port:binding:host_id"))

    def shown(call: Call, ident: str) -> dict[str, Any]:
        return listing.one(call, PORTS, [view(call, r) for r in visible(
            call, "network:get_port", id=[ident])], ident)

    def changeable(call: Call, rule: str) -> PortRecord:
        """The port the path names, if the caller's (404 otherwise)."""
        ident = call.params["port_id"]
        call.enforce("network:get_port")
        found = visible(call, rule, id=[ident])
        if not found:
            raise PortNotFound(ident)
        return found[0]

    def admin_only(call: Call, action: str, asked: dict[str, Any]) -> None:
        for attribute in ("mac_address", "binding:host_id"):
            if attribute in asked:
                disallowed(call, action, attribute)

    def owner_only(call: Call, action: str, asked: dict[str, Any],
                   network_project: str | None) -> None:
        """Neutron's 403 for port security turned off, address pairs given, or an
        address chosen by a caller whose project does not own the port's network
        (admins excepted)."""
        if call.context.project_id == network_project:
            return
        if any("ip_address" in fixed for fixed in asked.get("fixed_ips") or []):
            disallowed(call, action, "fixed_ips:ip_address")
        if asked.get("port_security_enabled", True) is False:
            disallowed(call, action, "port_security_enabled")
        if asked.get("allowed_address_pairs"):
            disallowed(call, action, "allowed_address_pairs")

    @api.get("/v2.0/ports", query=PORTS.query())
    def list_ports(call: Call) -> dict[str, Any]:
        """List the ports the caller sees (filters, fields; sorted and paged in the
        database)."""
        ctx = call.enforce("network:get_port")
        q = listing.parse(call, PORTS)
        every = allowed(call, "network:all_projects")
        routers = [r for r in network.routers.visible(ctx.project_id, every_project=every)
                   if r.id in q.filters.get("device_id", ())]
        if routers:  # a router's ports: its interfaces (few; listed as the others are)
            subnets = {s.id: s for s in network.topology.subnets(None, every_project=True)}
            return listing.answer(call, PORTS, [view(call, r) for r in [
                *visible(call, "network:get_port", **q.filters),
                *interface_ports(routers, subnets)]])
        if "binding:host_id" in q.filters and not allowed(
                call, "network:get_port:binding:host_id"):
            return listing.render(call, PORTS, q, [])  # nothing shows the caller a host
        page = ports_page(network.db, ctx.project_id, PortPage(
            q.filters, q.sorts, q.limit, q.marker, q.page_reverse),
            every_project=every)
        return listing.render(call, PORTS, q, [view(call, r) for r in page])

    @api.get("/v2.0/ports/{port_id}", query=FIELDS)
    def show_port(call: Call) -> dict[str, Any]:
        """Show a port."""
        return shown(call, call.params["port_id"])

    @api.post("/v2.0/ports", schema=CREATE, status=201)
    def create_port(call: Call) -> dict[str, Any]:
        """Make a port on one of the caller's networks or a shared one, with the fixed
        IPs asked for (by default one of each subnet)."""
        ctx = call.enforce("network:create_port")
        asked = call.body["port"]
        admin_only(call, "create_port", asked)
        project = owner(call, ctx, asked, "create_port")
        target = next((r for r in network.topology.networks(
            ctx.project_id, every_project=allowed(call, "network:all_projects"))
            if r.id == asked["network_id"]), None)
        if target is None:
            raise NetworkNotFound(asked["network_id"])
        if target.external:
            raise BadRequest("The external network takes floating IPs, not ports.")
        owner_only(call, "create_port", asked, target.project_id)
        return shown(call, network.port_changes.create(target, project, asked))

    @api.put("/v2.0/ports/{port_id}", schema=UPDATE)
    def update_port(call: Call) -> dict[str, Any]:
        """Change a port's name, description, state, device, groups, port security,
        address pairs; the hosts of its project's servers enforce the change (the
        groups' members change too)."""
        found = changeable(call, "network:update_port")
        admin_only(call, "update_port", call.body["port"])
        held = network.networks.record(found.network_id)
        owner_only(call, "update_port", call.body["port"],
                   held.project_id if held is not None else None)
        network.port_changes.update(found.id, call.body["port"])
        if use is not None and any(k in call.body["port"] for k in ENFORCED):
            use.rules_changed(found.project_id)
        return shown(call, found.id)

    @api.delete("/v2.0/ports/{port_id}")
    def delete_port(call: Call) -> None:
        """Delete a port; its addresses go back to their network, its floating IPs are
        taken from it (a server's port too: the server then has no interface there, and
        compute is told)."""
        gone = network.port_changes.delete(changeable(call, "network:delete_port").id)
        if gone.instance_id is not None and port_use is not None:
            port_use.port_deleted(gone.instance_id)
