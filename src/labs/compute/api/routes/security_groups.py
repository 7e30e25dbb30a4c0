"""Security groups (``os-security-groups``, ``os-security-group-rules``) and a server's
groups: Nova's nova-network proxy APIs, gone from microversion 2.36; the
``addSecurityGroup`` and ``removeSecurityGroup`` server actions stay."""

from __future__ import annotations

from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import BadRequest, NotFound
from labs.common.http import WINDOW, Api, Call, Reply, query_strings
from labs.common.numbers import is_digits
from labs.compute.api import network_schemas as schemas
from labs.compute.api.routes import network_views as views
from labs.compute.api.service import ComputeService
from labs.network.nova_security_groups import RuleRequest


def proxy_version(call: Call) -> None:
    """Nova removed its network proxies at 2.36: a 404 from then on."""
    if call.at_least(2, 36):
        raise NotFound("The resource could not be found.")


def window(call: Call, rows: list[Any]) -> list[Any]:
    """Nova's ``limit`` and ``offset`` on the group list."""
    bounds = []
    for name in ("offset", "limit"):
        raw = call.query.get(name)
        if raw is not None and not is_digits(raw):
            raise BadRequest(f"Invalid input for query parameters {name}: {raw!r} is not "
                             "an integer >= 0.")
        bounds.append(int(raw) if raw is not None else None)
    offset, limit = bounds
    start = offset or 0
    return rows[start:] if limit is None else rows[start:start + limit]


def rule_request(body: dict[str, Any]) -> RuleRequest:
    rule = body["security_group_rule"]
    group_id = rule.get("group_id")
    return RuleRequest(parent_group_id=str(rule["parent_group_id"]),
                       ip_protocol=rule.get("ip_protocol"), from_port=rule.get("from_port"),
                       to_port=rule.get("to_port"), cidr=rule.get("cidr"),
                       group_id=None if group_id in (None, "") else str(group_id))


def server_action(service: ComputeService, ctx: RequestContext, server_id: str, name: str,
                  args: dict[str, Any]) -> None:
    """``addSecurityGroup`` / ``removeSecurityGroup`` (every microversion)."""
    if name == "addSecurityGroup":
        service.network_proxy.add_server_group(ctx, server_id, args["name"])
    else:
        service.network_proxy.remove_server_group(ctx, server_id, args["name"])


def register(api: Api, service: ComputeService) -> None:
    network = service.network_proxy

    @api.get("/v2.1/os-security-groups",
             query={**WINDOW, **query_strings("all_tenants")})
    def list_security_groups(call: Call) -> dict[str, Any]:
        """The project's groups (``all_tenants`` for admins; others get their own)."""
        proxy_version(call)
        ctx = call.enforce("compute:security_groups:read")
        everyone = call.flag("all_tenants") and call.api.policy is not None and \
            call.api.policy.allowed("compute:security_groups:all_tenants", ctx)
        groups = window(call, network.list_groups(ctx, everyone))
        return {"security_groups": [views.security_group(g) for g in groups]}

    @api.post("/v2.1/os-security-groups", schema=schemas.SECURITY_GROUP)
    def create_security_group(call: Call) -> dict[str, Any]:
        """Create a group (no rules: nothing gets in until a rule says so)."""
        proxy_version(call)
        ctx = call.enforce("compute:security_groups:manage")
        body = call.body["security_group"]
        view = network.create_group(ctx, body["name"], body["description"])
        return {"security_group": views.security_group(view)}

    @api.get("/v2.1/os-security-groups/{group_id}")
    def show_security_group(call: Call) -> dict[str, Any]:
        """One group with its rules."""
        proxy_version(call)
        ctx = call.enforce("compute:security_groups:read")
        return {"security_group": views.security_group(
            network.get_group(ctx, call.params["group_id"]))}

    @api.put("/v2.1/os-security-groups/{group_id}", schema=schemas.SECURITY_GROUP)
    def update_security_group(call: Call) -> dict[str, Any]:
        """Rename a group or change its description (``default`` keeps its name)."""
        proxy_version(call)
        ctx = call.enforce("compute:security_groups:manage")
        body = call.body["security_group"]
        view = network.update_group(ctx, call.params["group_id"], body["name"],
                                    body["description"])
        return {"security_group": views.security_group(view)}

    @api.delete("/v2.1/os-security-groups/{group_id}")
    def delete_security_group(call: Call) -> Reply:
        """Delete a group no server names (never ``default``)."""
        proxy_version(call)
        ctx = call.enforce("compute:security_groups:manage")
        network.delete_group(ctx, call.params["group_id"])
        return Reply(status=202)

    @api.post("/v2.1/os-security-group-rules", schema=schemas.SECURITY_GROUP_RULE)
    def create_security_group_rule(call: Call) -> dict[str, Any]:
        """Let traffic into a group's members: a protocol and ports from a CIDR or from
        a group's members."""
        proxy_version(call)
        ctx = call.enforce("compute:security_groups:manage")
        view = network.add_rule(ctx, rule_request(call.body))
        return {"security_group_rule": views.security_group_rule(view, view.rules[0])}

    @api.delete("/v2.1/os-security-group-rules/{rule_id}")
    def delete_security_group_rule(call: Call) -> Reply:
        """Delete a rule."""
        proxy_version(call)
        ctx = call.enforce("compute:security_groups:manage")
        network.delete_rule(ctx, call.params["rule_id"])
        return Reply(status=202)

    @api.get("/v2.1/servers/{server_id}/os-security-groups")
    def list_server_security_groups(call: Call) -> dict[str, Any]:
        """The groups a server is a member of."""
        ctx = call.enforce("compute:servers:show")
        groups = network.server_groups(ctx, call.params["server_id"])
        return {"security_groups": [views.security_group(g) for g in groups]}
