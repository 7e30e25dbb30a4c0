"""Networks (``/v2.0/networks``): a project's own, the shared ones and the external one,
listed and shown; made, changed and deleted by the project's members (``shared`` and
``router:external`` by admins only, as Neutron's policy has them)."""

from __future__ import annotations

from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import BadRequest, Forbidden
from labs.common.http import Api, Call
from labs.network.api import listing, views
from labs.network.api.base import allowed, expected_revision
from labs.network.api.listing import Collection
from labs.network.api.tagging import tagged
from labs.network.errors import InvalidInput, NetworkNotFound
from labs.network.service import NetworkService
from labs.network.topology import NetworkRecord

COMMON_FILTERS: dict[str, listing.Kind] = {
    "id": "str", "name": "str", "project_id": "str", "tenant_id": "str",
    "description": "str", "revision_number": "int"}
NETWORKS = listing.taggable(Collection(
    "network", "networks",
    {**COMMON_FILTERS, "status": "str", "admin_state_up": "bool", "shared": "bool",
     "router:external": "bool", "mtu": "int"},
    ("id", "name", "project_id", "tenant_id", "status", "admin_state_up", "shared",
     "router:external", "mtu", "created_at", "updated_at"),
    NetworkNotFound))
FIELDS = {"fields": {"type": "string"}}
#: The smallest MTU the host side configures.
MIN_MTU = 576
_TEXT = {"type": "string", "maxLength": 255}
#: A project's id as the network keeps it (longer ones are no project's).
PROJECT_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_CHANGES = {"name": _TEXT, "description": _TEXT, "admin_state_up": {"type": "boolean"},
            # OSC sends the MTU as text; Neutron converts it
            "mtu": {"type": ["integer", "string"], "pattern": "^[0-9]{1,9}$"},
            "shared": {"type": "boolean"},
            "router:external": {"type": "boolean"}}
CREATE = {"type": "object", "required": ["network"], "additionalProperties": False,
          "properties": {"network": {
              "type": "object", "additionalProperties": False,
              "properties": {**_CHANGES, "project_id": PROJECT_ID, "tenant_id": PROJECT_ID,
                             "port_security_enabled": {"type": "boolean", "const": True},
                             "availability_zone_hints": {"type": "array", "maxItems": 0}}}}}
UPDATE = {"type": "object", "required": ["network"], "additionalProperties": False,
          "properties": {"network": {"type": "object", "additionalProperties": False,
                                     "properties": _CHANGES}}}


def disallowed(call: Call, action: str, attribute: str) -> None:
    """Neutron's 403 for an attribute only admins may set."""
    if not allowed(call, f"network:{action}:{attribute}"):
        raise Forbidden(f"(rule:{action} and rule:{action}:{attribute}) is disallowed by "
                        "policy")


def owner(call: Call, ctx: RequestContext, asked: dict[str, Any], action: str) -> str:
    """The project a new network or subnet is for: the caller's, or (admins) the one
    the body names."""
    named = {asked[k] for k in ("project_id", "tenant_id") if k in asked}
    if len(named) > 1:
        raise BadRequest("Invalid input: project_id and tenant_id differ.")
    project = named.pop() if named else ctx.project_id
    if project != ctx.project_id and not allowed(call, f"network:{action}:project_id"):
        raise BadRequest("Specifying 'project_id' or 'tenant_id' other than the "
                         "authenticated project in request requires admin privileges")
    if not project:
        raise BadRequest("Invalid input: a network needs a project.")
    return project


def check_attributes(call: Call, action: str, body: dict[str, Any]) -> dict[str, Any]:
    """The attributes asked for, checked (the MTU as a number)."""
    asked = {**body, **({"mtu": int(body["mtu"])} if "mtu" in body else {})}
    if asked.get("mtu") is not None and asked["mtu"] > views.MTU:
        raise InvalidInput(f"Requested MTU is too big, maximum is {views.MTU}")
    if asked.get("mtu") is not None and asked["mtu"] < MIN_MTU:
        raise InvalidInput(f"Requested MTU is too small, minimum is {MIN_MTU}")
    if "shared" in asked:
        disallowed(call, action, "shared")
    if "router:external" in asked:
        disallowed(call, action, "router:external")
        if asked["router:external"]:
            raise BadRequest("Labs has one external network: the cloud's public range "
                             "([network] floating_range); no other can be made.")
    return asked


def register(api: Api, network: NetworkService) -> None:
    def visible(call: Call, rule: str) -> list[NetworkRecord]:
        """The networks the caller sees: its project's, the shared ones and the external
        one (admins: every project's)."""
        ctx = call.enforce(rule)
        return network.topology.networks(
            ctx.project_id, every_project=allowed(call, "network:all_projects"))

    def changeable(call: Call, rule: str) -> NetworkRecord:
        """The network the path names, if the caller may change it: 404 if it does not
        see it, 403 if it sees it (shared, external) without owning it."""
        ident = call.params["network_id"]
        found = next((r for r in visible(call, "network:get_network") if r.id == ident), None)
        if found is None:
            raise NetworkNotFound(ident)
        ctx = call.enforce(rule)
        if found.external or (found.project_id != ctx.project_id
                              and not allowed(call, "network:all_projects")):
            raise Forbidden(f"(rule:{rule.split(':')[1]}) is disallowed by policy")
        return found

    def shown(call: Call, ident: str) -> dict[str, Any]:
        return listing.one(call, NETWORKS, tagged(network, "networks", [
            views.network(r) for r in visible(call, "network:get_network")]), ident)

    @api.get("/v2.0/networks", query=NETWORKS.query())
    def list_networks(call: Call) -> dict[str, Any]:
        """List the networks the caller sees (filters, fields, sorting, paging)."""
        shown = tagged(network, "networks", [
            views.network(r) for r in visible(call, "network:get_network")])
        return listing.answer(call, NETWORKS, shown)

    @api.get("/v2.0/networks/{network_id}", query=FIELDS)
    def show_network(call: Call) -> dict[str, Any]:
        """Show a network."""
        return shown(call, call.params["network_id"])

    @api.post("/v2.0/networks", schema=CREATE, status=201)
    def create_network(call: Call) -> dict[str, Any]:
        """Make a network (no subnet yet: it holds no addresses)."""
        ctx = call.enforce("network:create_network")
        project = owner(call, ctx, call.body["network"], "create_network")
        asked = check_attributes(call, "create_network", call.body["network"])
        return shown(call, network.networks.create_network(project, asked))

    @api.put("/v2.0/networks/{network_id}", schema=UPDATE)
    def update_network(call: Call) -> dict[str, Any]:
        """Change a network's name, description, state, MTU (admins: sharing)."""
        found = changeable(call, "network:update_network")
        asked = check_attributes(call, "update_network", call.body["network"])
        network.networks.update_network(found.id, asked, expected_revision(call))
        return shown(call, found.id)

    @api.delete("/v2.0/networks/{network_id}")
    def delete_network(call: Call) -> None:
        """Delete a network with its subnets (409 while servers hold addresses on it)."""
        found = changeable(call, "network:delete_network")
        network.networks.delete_network(found.id, expected_revision(call))
