"""Security groups and their rules (``/v2.0/security-groups``,
``/v2.0/security-group-rules``) over the rows compute's ``os-security-groups`` shows:
creates within the network's quotas (Neutron's 409 ``OverQuota``), a group a live server
names cannot go, and every change that alters what hosts enforce is passed to compute's
`GroupUse` (the project's hosts apply the rules again). Without one (a process without
compute) groups and rules are read-only: 503.
"""

from __future__ import annotations

from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import BadRequest, ServiceUnavailable
from labs.common.http import Api, Call
from labs.network.api import listing
from labs.network.api import security_views as views
from labs.network.api.base import allowed
from labs.network.api.networks import FIELDS
from labs.network.group_use import GroupUse
from labs.network.service import NetworkService


def owner(call: Call, ctx: RequestContext, asked: dict[str, Any]) -> str | None:
    """The ``project_id``/``tenant_id`` a body names: any for an admin, none but the
    caller's own for others (400, as Neutron says)."""
    named = {asked[k] for k in ("project_id", "tenant_id") if k in asked}
    if len(named) > 1:
        raise BadRequest("Both project_id and tenant_id passed in request but they do not "
                         "match.")
    project_id = next(iter(named), None)
    if project_id not in (None, ctx.project_id) and \
            not allowed(call, "network:all_projects"):
        raise BadRequest("Specifying 'project_id' or 'tenant_id' other than the "
                         "authenticated project in request requires admin privileges")
    return project_id


def stateful_only(asked: dict[str, Any]) -> None:
    if asked.get("stateful") is False:
        raise BadRequest("Stateless security groups are not supported: the hosts track "
                         "connections.")


class SecurityGroupsApi:
    """What the handlers ask of the network's groups and of compute's `GroupUse`."""

    def __init__(self, network: NetworkService, use: GroupUse | None) -> None:
        self.network = network
        self.groups = network.security_groups
        self.use = use

    def changer(self) -> GroupUse:
        if self.use is None:
            raise ServiceUnavailable("This network API process changes no security "
                                     "groups.")
        return self.use

    def visible(self, call: Call, rule: str) -> list[Any]:
        """The groups the caller sees: its project's (admins: every project's)."""
        ctx = call.enforce(rule)
        if allowed(call, "network:all_projects"):
            if ctx.project_id is not None:
                self.groups.ensure_default(ctx.project_id)
            return self.groups.list_groups(ctx, None)
        return self.groups.list_groups(ctx, ctx.project_id or "")

    def group_items(self, call: Call) -> list[listing.Item]:
        return [views.group(g) for g in self.visible(call, "network:get_security_group")]

    def rule_items(self, call: Call) -> list[listing.Item]:
        return [views.rule(r) for g in self.visible(call, "network:get_security_group_rule")
                for r in g.rules]

    def delete_group(self, ctx: RequestContext, group_id: str) -> None:
        use = self.changer()
        group = self.groups.get(ctx, group_id)
        in_use = use.group_in_use(group.project_id, group.name)
        use.rules_changed(self.groups.delete_group(ctx, group_id, in_use))


def register(api: Api, network: NetworkService, use: GroupUse | None) -> None:
    sgs = SecurityGroupsApi(network, use)
    groups = network.security_groups

    @api.get("/v2.0/security-groups", query=views.GROUPS.query())
    def list_security_groups(call: Call) -> dict[str, Any]:
        """List the security groups the caller sees, with their rules."""
        return listing.answer(call, views.GROUPS, sgs.group_items(call))

    @api.get("/v2.0/security-groups/{security_group_id}", query=FIELDS)
    def show_security_group(call: Call) -> dict[str, Any]:
        """Show a security group with its rules."""
        return listing.one(call, views.GROUPS, sgs.group_items(call),
                           call.params["security_group_id"])

    @api.post("/v2.0/security-groups", schema=views.GROUP_CREATE, status=201)
    def create_security_group(call: Call) -> dict[str, Any]:
        """Create a group letting everything out (IPv4 and IPv6) and nothing in."""
        ctx = call.enforce("network:create_security_group")
        asked = call.body["security_group"]
        stateful_only(asked)
        project_id = owner(call, ctx, asked)
        sgs.changer()
        made = groups.create_group(ctx, asked.get("name", ""), asked.get("description", ""),
                                   network.quotas, project_id)
        return {"security_group": views.group(made)}

    @api.put("/v2.0/security-groups/{security_group_id}", schema=views.GROUP_UPDATE)
    def update_security_group(call: Call) -> dict[str, Any]:
        """Change a group's name or description (``default`` keeps its name)."""
        ctx = call.enforce("network:update_security_group")
        asked = call.body["security_group"]
        stateful_only(asked)
        use = sgs.changer()
        changed = groups.update_group(ctx, call.params["security_group_id"], {
            k: v for k, v in asked.items() if k in ("name", "description")})
        use.rules_changed(changed.project_id)  # its members name it by name
        return {"security_group": views.group(changed)}

    @api.delete("/v2.0/security-groups/{security_group_id}")
    def delete_security_group(call: Call) -> None:
        """Delete a group no live server is a member of (``default``: admins only)."""
        ctx = call.enforce("network:delete_security_group")
        sgs.delete_group(ctx, call.params["security_group_id"])

    @api.get("/v2.0/security-group-rules", query=views.RULES.query())
    def list_security_group_rules(call: Call) -> dict[str, Any]:
        """List the rules of the groups the caller sees."""
        return listing.answer(call, views.RULES, sgs.rule_items(call))

    @api.get("/v2.0/security-group-rules/{security_group_rule_id}", query=FIELDS)
    def show_security_group_rule(call: Call) -> dict[str, Any]:
        """Show a security group rule."""
        return listing.one(call, views.RULES, sgs.rule_items(call),
                           call.params["security_group_rule_id"])

    @api.post("/v2.0/security-group-rules", schema=views.RULE_CREATE, status=201)
    def create_security_group_rule(call: Call) -> dict[str, Any]:
        """Add a rule to a group; the hosts of the project's servers apply it."""
        ctx = call.enforce("network:create_security_group_rule")
        asked = call.body["security_group_rule"]
        project_id = owner(call, ctx, asked)
        use = sgs.changer()
        if project_id not in (None, groups.get(ctx, asked["security_group_id"]).project_id):
            raise BadRequest("A security group rule belongs to its group's project.")
        made = groups.create_rule(ctx, asked, network.quotas)
        use.rules_changed(made.project_id)
        return {"security_group_rule": views.rule(made)}

    @api.delete("/v2.0/security-group-rules/{security_group_rule_id}")
    def delete_security_group_rule(call: Call) -> None:
        """Delete a rule; the hosts of the project's servers stop applying it."""
        ctx = call.enforce("network:delete_security_group_rule")
        use = sgs.changer()
        use.rules_changed(groups.delete_rule(ctx, call.params["security_group_rule_id"]))
