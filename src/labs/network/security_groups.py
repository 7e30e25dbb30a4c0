"""Security groups and their rules, with Neutron's semantics: what the network API
shows, what the compute API's nova-network proxies show (`nova_security_groups`), and
what the hosts enforce.

A group belongs to a project and has a unique name there; a server is a member of the
groups it names. A new group lets everything out (Neutron's two egress rules, IPv4 and
IPv6) and nothing in. Every project has a ``default`` group, made the first time the
project asks for its groups or builds a server, with Neutron's rules (everything out,
everything in from other members of ``default``) and Labs' own: ICMP from anywhere and
TCP 22 from the cloud's own range.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labs.common.context import RequestContext
from labs.common.db import Database, save_unique
from labs.common.errors import BadRequest, Conflict
from labs.network import models
from labs.network.quota import ProjectQuota, check_neutron
from labs.network.security_rules import (
    GroupRecord,
    RuleRecord,
    RuleSpec,
    SecurityGroupCannotRemoveDefault,
    SecurityGroupCannotUpdateDefault,
    SecurityGroupDefaultAlreadyExists,
    SecurityGroupInUse,
    SecurityGroupNotFound,
    SecurityGroupRuleExists,
    SecurityGroupRuleNotFound,
    check_rule,
    check_text,
    now,
)
from labs.network.specs import SecurityRule

if TYPE_CHECKING:
    from labs.network.notices import Notices

Group, Rule = models.SecurityGroup, models.SecurityGroupRule
DEFAULT = "default"
#: What the hosts can enforce today (the bridge passes IPv4 only).
ENFORCED = ("tcp", "udp", "icmp")
#: An egress rule that matches nothing: a port whose groups let nothing out (that the
#: host can enforce) gets it, so that it has egress rules and sends nothing.
NOTHING_OUT = SecurityRule(direction="egress", remote_cidr="0.0.0.0/32")


def egress_rules(group_id: str) -> list[RuleSpec]:
    """Neutron's rules of a new group: everything out, IPv4 and IPv6."""
    return [RuleSpec(group_id, "egress", "IPv4"), RuleSpec(group_id, "egress", "IPv6")]


class SecurityGroups:
    """`notices`: where groups and rules made or deleted through the APIs are told, once
    committed (None: nowhere)."""

    def __init__(self, db: Database, ssh_from: str) -> None:
        self.db = db
        self.ssh_from = ssh_from
        self.notices: Notices | None = None

    # -- groups --------------------------------------------------------------------
    def ensure_default(self, project_id: str) -> None:
        """Make the project's ``default`` group with its rules, unless it has one."""
        with self.db.reading() as tx:
            if self.find(tx, project_id, DEFAULT) is not None:
                return
        try:
            with self.db.transaction() as tx:
                group = self.add_group(tx, project_id, DEFAULT, "Default security group")
                self.add_rules(tx, group, [
                    *egress_rules(group.id),
                    RuleSpec(group.id, "ingress", "IPv4", remote_group_id=group.id),
                    RuleSpec(group.id, "ingress", "IPv6", remote_group_id=group.id),
                    RuleSpec(group.id, "ingress", "IPv4", "icmp",
                             remote_ip_prefix="0.0.0.0/0"),
                    RuleSpec(group.id, "ingress", "IPv4", "tcp", 22, 22,
                             remote_ip_prefix=self.ssh_from)])
        except (IntegrityError, Conflict):
            pass  # made by a concurrent request

    def list_groups(self, ctx: RequestContext, project_id: str | None) -> list[GroupRecord]:
        """The groups of `project_id` (None: every project's; admins only)."""
        if project_id is not None:
            self.ensure_default(project_id)
        with self.db.reading() as tx:
            query = sa.select(Group).order_by(Group.created_at, Group.id)
            if project_id is not None:
                query = query.where(Group.project_id == project_id)
            return self.records(tx, list(tx.scalars(query)))

    def get(self, ctx: RequestContext, group_id: str) -> GroupRecord:
        with self.db.reading() as tx:
            return self.records(tx, [self.group_row(tx, ctx, group_id)])[0]

    def create_group(self, ctx: RequestContext, name: object, description: object = "",
                     quota: ProjectQuota | None = None,
                     project_id: str | None = None) -> GroupRecord:
        """A new group letting everything out in the caller's project (or `project_id`,
        which the caller checked it may name), within the project's ``security_group``
        quota (``default`` counts, as in Neutron)."""
        project_id = project_id or project_of(ctx)
        name = check_text("name", name)
        description = check_text("description", description or "")
        self.ensure_default(project_id)
        if quota is not None:
            quota.ready(project_id)
        with self.db.transaction() as tx:
            if quota is not None:
                limits = quota.lock(tx, project_id)  # before counting
                check_neutron(limits, "security_group", self.count(tx, project_id), 1)
                check_neutron(limits, "security_group_rule",
                              self.count_rules(tx, project_id), 2)
            if name == DEFAULT:
                raise SecurityGroupDefaultAlreadyExists("Default security group already "
                                                        "exists.")
            group = self.add_group(tx, project_id, name, description)
            self.add_rules(tx, group, egress_rules(group.id))
            return self.told_group(tx, "create", group)

    def update_group(self, ctx: RequestContext, group_id: str,
                     changes: dict[str, Any]) -> GroupRecord:
        """Change a group's name or description (``default`` keeps its name)."""
        with self.db.transaction() as tx:
            group = self.group_row(tx, ctx, group_id)
            name = check_text("name", changes.get("name", group.name))
            if group.name == DEFAULT and name != DEFAULT:
                raise SecurityGroupCannotUpdateDefault(
                    "Updating default security group not allowed.")
            if name == DEFAULT and group.name != DEFAULT:
                raise SecurityGroupDefaultAlreadyExists(
                    "Default security group already exists.")
            group.name = name
            group.description = check_text("description",
                                           changes.get("description", group.description))
            touch(group)
            save_unique(tx, f"security group {name}")
            return self.records(tx, [group])[0]

    def delete_group(self, ctx: RequestContext, group_id: str, in_use: bool) -> str:
        """Delete the group; `in_use`: whether a server names it (the caller knows).
        ``default`` only by an admin (the project gets a new one on next use). Returns
        the project id."""
        with self.db.transaction() as tx:
            group = self.group_row(tx, ctx, group_id)
            if group.name == DEFAULT and not ctx.is_admin:
                raise SecurityGroupCannotRemoveDefault(
                    "Insufficient rights for removing default security group.")
            if in_use:
                raise SecurityGroupInUse(f"Security Group {group.id} in use.")
            self.told_group(tx, "delete", group)
            tx.execute(sa.delete(Rule).where(sa.or_(Rule.group_id == group.id,
                                                    Rule.remote_group_id == group.id)))
            tx.delete(group)
            return group.project_id

    # -- rules ---------------------------------------------------------------------
    def list_rules(self, ctx: RequestContext, project_id: str | None) -> list[RuleRecord]:
        """The rules of `project_id`'s groups (None: every project's; admins only)."""
        return [rule for group in self.list_groups(ctx, project_id) for rule in group.rules]

    def get_rule(self, ctx: RequestContext, rule_id: str) -> RuleRecord:
        with self.db.reading() as tx:
            rule, group = self._rule(tx, ctx, rule_id)
            return RuleRecord.of(rule, group.project_id)

    def create_rule(self, ctx: RequestContext, fields: dict[str, Any],
                    quota: ProjectQuota | None = None) -> RuleRecord:
        """A new rule in group ``security_group_id`` (Neutron's fields), within the
        project's ``security_group_rule`` quota."""
        group_id = fields.get("security_group_id")
        if not isinstance(group_id, str):
            raise BadRequest("Invalid input: security_group_id must be a string.")
        with self.db.reading() as tx:
            project_id = self.group_row(tx, ctx, group_id).project_id
        if quota is not None:
            quota.ready(project_id)
        with self.db.transaction() as tx:
            limits = quota.lock(tx, project_id) if quota is not None else {}
            group = self.group_row(tx, ctx, group_id)
            spec = check_rule(group.id, fields)
            if spec.remote_group_id is not None:
                remote = self.group_row(tx, ctx, spec.remote_group_id)
                if remote.project_id != group.project_id:  # members are the project's
                    raise SecurityGroupNotFound(
                        f"Security group {spec.remote_group_id} does not exist")
                spec = replace(spec, remote_group_id=remote.id)
            check_neutron(limits, "security_group_rule", self.count_rules(tx, project_id), 1)
            (made,) = self.add_rules(tx, group, [spec])
            return self.told_rule(tx, "create", made, group)

    def delete_rule(self, ctx: RequestContext, rule_id: str) -> str:
        """Delete a rule; returns its group's project id."""
        with self.db.transaction() as tx:
            rule, group = self._rule(tx, ctx, rule_id)
            self.told_rule(tx, "delete", rule, group)
            tx.delete(rule)
            touch(group)
            return group.project_id

    # -- for the network's other callers --------------------------------------------
    @staticmethod
    def count(tx: Session, project_id: str) -> int:
        """How many groups the project has (its ``security_groups`` usage)."""
        return tx.scalar(sa.select(sa.func.count()).select_from(Group)
                         .where(Group.project_id == project_id)) or 0

    @staticmethod
    def count_rules(tx: Session, project_id: str) -> int:
        """How many rules the project's groups have (Neutron's ``security_group_rule``
        usage)."""
        return tx.scalar(sa.select(sa.func.count()).select_from(Rule).join(
            Group, Group.id == Rule.group_id).where(Group.project_id == project_id)) or 0

    @staticmethod
    def find(tx: Session, project_id: str, name: str) -> models.SecurityGroup | None:
        return tx.scalar(sa.select(Group).where(Group.project_id == project_id,
                                                Group.name == name))

    @staticmethod
    def find_named(tx: Session, project_id: str,
                   name_or_id: str) -> models.SecurityGroup | None:
        """The project's group named `name_or_id`, or else with that id (servers name
        their groups; Nova with Neutron takes a name or an id)."""
        found = SecurityGroups.find(tx, project_id, name_or_id)
        if found is None and len(name_or_id) <= 36:
            row = tx.get(Group, name_or_id)
            found = row if row is not None and row.project_id == project_id else None
        return found

    @staticmethod
    def add_group(tx: Session, project_id: str, name: str,
                  description: str) -> models.SecurityGroup:
        """A new group without rules (a name the project has is a 409)."""
        when = now()
        group = Group(id=str(uuid.uuid4()), project_id=project_id, name=name,
                      description=description, stateful=True, revision_number=0,
                      created_at=when, updated_at=when)
        save_unique(tx, f"security group {name}", group)
        return group

    @staticmethod
    def add_rules(tx: Session, group: models.SecurityGroup,
                  specs: list[RuleSpec]) -> list[models.SecurityGroupRule]:
        """Add checked rules to `group`; one that the group has already is a 409."""
        existing = {RuleSpec.of(r).key(): r.id for r in tx.scalars(
            sa.select(Rule).where(Rule.group_id == group.id))}
        made, when = [], now()
        for spec in specs:
            if spec.key() in existing:
                raise SecurityGroupRuleExists("Security group rule already exists. Rule "
                                              f"id is {existing[spec.key()]}.")
            rule = Rule(id=str(uuid.uuid4()), **asdict(spec), revision_number=0,
                        created_at=when, updated_at=when)
            existing[spec.key()] = rule.id
            made.append(rule)
        tx.add_all(made)
        touch(group)
        tx.flush()
        return made

    def told_group(self, tx: Session, action: str, group: models.SecurityGroup
                   ) -> GroupRecord:
        """The group as it is now with its rules, told to `notices` (``create`` or
        ``delete``) once `tx` commits."""
        record = self.records(tx, [group])[0]
        if self.notices is not None:
            self.notices.security_group(tx, action, record)
        return record

    def told_rule(self, tx: Session, action: str, rule: models.SecurityGroupRule,
                  group: models.SecurityGroup) -> RuleRecord:
        record = RuleRecord.of(rule, group.project_id)
        if self.notices is not None:
            self.notices.security_group_rule(tx, action, record)
        return record

    def group_row(self, tx: Session, ctx: RequestContext,
                  group_id: str | None) -> models.SecurityGroup:
        """The group, if the caller may see it (else 404, as for no group)."""
        group = tx.get(Group, group_id) if isinstance(group_id, str) else None
        if group is None or not (ctx.is_admin or group.project_id == ctx.project_id):
            raise SecurityGroupNotFound(f"Security group {group_id} does not exist")
        return group

    def records(self, tx: Session, groups: list[models.SecurityGroup]) -> list[GroupRecord]:
        """The groups with their rules and the names of the groups those name."""
        by_group: dict[str, list[models.SecurityGroupRule]] = {g.id: [] for g in groups}
        for rule in tx.scalars(sa.select(Rule).where(Rule.group_id.in_(list(by_group)))
                               .order_by(Rule.created_at, Rule.id)):
            by_group[rule.group_id].append(rule)
        sources = self.names(tx, {r.remote_group_id for rules in by_group.values()
                                  for r in rules if r.remote_group_id})
        return [GroupRecord.of(g, by_group[g.id], sources) for g in groups]

    @staticmethod
    def names(tx: Session, group_ids: Iterable[str]) -> dict[str, str]:
        wanted = list(group_ids)
        if not wanted:
            return {}
        rows = tx.execute(sa.select(Group.id, Group.name).where(Group.id.in_(wanted)))
        return {group_id: name for group_id, name in rows}

    def _rule(self, tx: Session, ctx: RequestContext, rule_id: str
              ) -> tuple[models.SecurityGroupRule, models.SecurityGroup]:
        rule = tx.get(Rule, rule_id) if isinstance(rule_id, str) else None
        group = tx.get(Group, rule.group_id) if rule is not None else None
        if rule is None or group is None or not (ctx.is_admin
                                                 or group.project_id == ctx.project_id):
            raise SecurityGroupRuleNotFound(f"Security group rule {rule_id} does not exist")
        return rule, group

    # -- what the hosts enforce ---------------------------------------------------
    def enforced_rules(self, tx: Session, project_id: str, names: list[str]
                       ) -> tuple[list[SecurityRule], dict[str, list[str]]]:
        """The driver rules of a member of `names` in `project_id`, and the remote groups
        they name (by group name; the caller fills in the members' addresses).

        Only IPv4 rules of tcp, udp, icmp or any protocol: the bridge passes no IPv6
        and the driver knows no other protocol, so such a rule allows nothing yet."""
        groups = list(tx.scalars(sa.select(Group).where(Group.project_id == project_id,
                                                        Group.name.in_(names or [DEFAULT]))))
        rules = [r for g in self.records(tx, groups) for r in g.rules
                 if r.ethertype == "IPv4" and (r.protocol is None or r.protocol in ENFORCED)]
        remote_names = self.names(tx, {r.remote_group_id for r in rules if r.remote_group_id})
        out = [SecurityRule(
            direction=rule.direction,  # type: ignore[arg-type]
            protocol=rule.protocol,  # type: ignore[arg-type]
            port_min=rule.port_range_min,
            port_max=rule.port_range_max if rule.port_range_min is not None else None,
            remote_cidr=rule.remote_ip_prefix if rule.remote_group_id is None else None,
            remote_group=remote_names.get(rule.remote_group_id or ""))
            for rule in rules]
        if not any(rule.direction == "egress" for rule in out):
            out.append(NOTHING_OUT)
        return out, {name: [] for name in remote_names.values()}


def touch(group: models.SecurityGroup) -> None:
    """A change to the group or its rules: a new revision."""
    group.revision_number += 1
    group.updated_at = now()


def project_of(ctx: RequestContext) -> str:
    if ctx.project_id is None:
        raise BadRequest("A project-scoped token is needed for security groups.")
    return ctx.project_id
