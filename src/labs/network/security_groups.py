"""Security groups and their rules (nova-network's, as the compute API's
``os-security-groups`` shows them).

A group belongs to a project and has a unique name there; a server is a member of the
groups it names (by name, as Nova keeps them). Every project has a ``default`` group,
made with Labs' rules the first time the project asks for its groups or builds a server:
everything from other members of ``default``, ICMP from anywhere, TCP 22 from the cloud's
own range. A rule lets traffic in: a protocol (tcp, udp or icmp) and a port range (for
icmp: type and code, -1 for any) from a CIDR, or from the members of a group.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labs.common.context import RequestContext
from labs.common.db import Database, save_unique
from labs.common.errors import BadRequest, NotFound
from labs.network import models
from labs.network.quota import ProjectQuota, check
from labs.network.specs import SecurityRule

Group, Rule = models.SecurityGroup, models.SecurityGroupRule
DEFAULT = "default"
PROTOCOLS = ("tcp", "udp", "icmp")


@dataclass(frozen=True)
class GroupRecord:
    """A security group as the network's callers see it."""

    id: int
    project_id: str
    name: str
    description: str

    @classmethod
    def of(cls, row: models.SecurityGroup) -> GroupRecord:
        return cls(id=row.id, project_id=row.project_id, name=row.name,
                   description=row.description)


@dataclass(frozen=True)
class RuleRecord:
    """A group's rule: a protocol and ports from a CIDR or from `remote_group_id`'s
    members."""

    id: int
    group_id: int
    protocol: str | None
    from_port: int | None
    to_port: int | None
    cidr: str | None
    remote_group_id: int | None

    @classmethod
    def of(cls, row: models.SecurityGroupRule) -> RuleRecord:
        return cls(id=row.id, group_id=row.group_id, protocol=row.protocol,
                   from_port=row.from_port, to_port=row.to_port, cidr=row.cidr,
                   remote_group_id=row.remote_group_id)


@dataclass(frozen=True)
class GroupView:
    """A group with its rules and the names of the groups its rules let in."""

    group: GroupRecord
    rules: list[RuleRecord]
    sources: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleRequest:
    """A rule as the API receives it (before checking)."""

    parent_group_id: str
    ip_protocol: str | None
    from_port: int | str | None
    to_port: int | str | None
    cidr: str | None = None
    group_id: str | None = None


def check_group_field(kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"Security group {kind} is not a string or unicode")
    if not value.strip():
        raise BadRequest(f"Security group {kind} cannot be empty.")
    if len(value) > 255:
        raise BadRequest(f"Security group {kind} should not be greater than 255 characters.")
    return value


def _port(value: int | str | None, what: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid port range {what}: {value!r} is not a number.") from None


def check_ports(protocol: str, low: int | None, high: int | None) -> tuple[int, int]:
    """Nova's checks: tcp and udp 1-65535 with low <= high; icmp type and code -1-255."""
    if low is None or high is None:
        raise BadRequest(f"Invalid port range {low}:{high}. Ports must be given for "
                         f"{protocol}.")
    if protocol == "icmp":
        if not (-1 <= low <= 255 and -1 <= high <= 255):
            raise BadRequest(f"Invalid port range {low}:{high}. For ICMP, the type and "
                             "code must be between -1 and 255.")
        return low, high
    if not (1 <= low <= 65535 and 1 <= high <= 65535) or low > high:
        raise BadRequest(f"Invalid port range {low}:{high}. Valid TCP ports should be "
                         "between 1-65535" if protocol == "tcp" else
                         f"Invalid port range {low}:{high}. Valid UDP ports should be "
                         "between 1-65535")
    return low, high


class SecurityGroups:
    def __init__(self, db: Database, ssh_from: str) -> None:
        self.db = db
        self.ssh_from = ssh_from

    # -- groups --------------------------------------------------------------------
    def ensure_default(self, project_id: str) -> None:
        """Make the project's ``default`` group with Labs' rules, unless it has one."""
        with self.db.reading() as tx:
            if tx.scalar(sa.select(Group.id).where(Group.project_id == project_id,
                                                   Group.name == DEFAULT)) is not None:
                return
        try:
            with self.db.transaction() as tx:
                group = Group(project_id=project_id, name=DEFAULT, description="default")
                tx.add(group)
                tx.flush()
                for protocol, low, high in (("icmp", -1, -1), ("tcp", 1, 65535),
                                            ("udp", 1, 65535)):
                    tx.add(Rule(group_id=group.id, protocol=protocol, from_port=low,
                                to_port=high, remote_group_id=group.id))
                tx.add(Rule(group_id=group.id, protocol="icmp", from_port=-1, to_port=-1,
                            cidr="0.0.0.0/0"))
                tx.add(Rule(group_id=group.id, protocol="tcp", from_port=22, to_port=22,
                            cidr=self.ssh_from))
        except IntegrityError:
            pass  # made by a concurrent request

    def list_groups(self, ctx: RequestContext, project_id: str | None) -> list[GroupView]:
        """The groups of `project_id` (None: every project's; admins only)."""
        if project_id is not None:
            self.ensure_default(project_id)
        with self.db.reading() as tx:
            query = sa.select(Group).order_by(Group.id)
            if project_id is not None:
                query = query.where(Group.project_id == project_id)
            groups = list(tx.scalars(query))
            return self._views(tx, list(zip(
                groups, self._rules(tx, [g.id for g in groups]), strict=True)))

    def get(self, ctx: RequestContext, group_id: str) -> GroupView:
        with self.db.reading() as tx:
            group = self._group(tx, ctx, group_id)
            return self._views(tx, [(group, self._rules(tx, [group.id])[0])])[0]

    @staticmethod
    def count(tx: Session, project_id: str) -> int:
        """How many groups the project has (its ``security_groups`` usage)."""
        return tx.scalar(sa.select(sa.func.count()).select_from(Group)
                         .where(Group.project_id == project_id)) or 0

    def names(self, tx: Session, group_ids: Iterable[int]) -> dict[int, str]:
        rows = tx.execute(sa.select(Group.id, Group.name).where(Group.id.in_(list(group_ids))))
        return {group_id: name for group_id, name in rows}

    def create(self, ctx: RequestContext, name: object, description: object,
               quota: ProjectQuota | None = None) -> GroupView:
        """A new group (no rules yet), within the project's ``security_groups`` quota (``default``
        counts, as in Nova)."""
        project_id = _project(ctx)
        name = check_group_field("name", name)
        description = check_group_field("description", description) \
            if description not in (None, "") else ""
        self.ensure_default(project_id)
        if quota is not None:
            quota.ready(project_id)
        with self.db.transaction() as tx:
            if quota is not None:
                limits = quota.lock(tx, project_id)  # before counting
                used = self.count(tx, project_id)
                check(limits, "security_groups", used, 1,
                      "Quota exceeded, too many security groups.")
            if tx.scalar(sa.select(Group.id).where(Group.project_id == project_id,
                                                   Group.name == name)) is not None:
                raise BadRequest(f"Security group {name} already exists")
            group = Group(project_id=project_id, name=name, description=description)
            save_unique(tx, f"security group {name}", group)
            return GroupView(GroupRecord.of(group), [])

    def update(self, ctx: RequestContext, group_id: str, name: object,
               description: object) -> None:
        name = check_group_field("name", name)
        description = check_group_field("description", description)
        with self.db.transaction() as tx:
            group = self._group(tx, ctx, group_id)
            if group.name == DEFAULT and name != DEFAULT:
                raise BadRequest("Unable to update system group 'default'")
            group.name, group.description = name, description
            save_unique(tx, f"security group {name}")

    def delete(self, ctx: RequestContext, group_id: str, in_use: bool) -> str:
        """Delete the group; `in_use`: whether a server names it (the caller knows). Returns
        the project id."""
        with self.db.transaction() as tx:
            group = self._group(tx, ctx, group_id)
            if group.name == DEFAULT:
                raise BadRequest("Removing default security group not allowed.")
            if in_use:
                raise BadRequest("Security group is still in use")
            tx.execute(sa.delete(Rule).where(sa.or_(Rule.group_id == group.id,
                                                    Rule.remote_group_id == group.id)))
            tx.delete(group)
            return group.project_id

    def find(self, tx: Session, project_id: str, name: str) -> GroupRecord | None:
        group = tx.scalar(sa.select(Group).where(Group.project_id == project_id,
                                                 Group.name == name))
        return GroupRecord.of(group) if group is not None else None

    # -- rules ---------------------------------------------------------------------
    def add_rule(self, ctx: RequestContext, req: RuleRequest,
                 quota: ProjectQuota | None = None) -> GroupView:
        """Add a rule (or, for a group source without a protocol, one each for icmp, tcp
        and udp, as Nova does): the parent group with the new rules, within the
        ``security_group_rules`` quota (rules per group, as Nova counts them)."""
        if quota is not None:
            with self.db.reading() as tx:
                quota.ready(self._group(tx, ctx, req.parent_group_id).project_id)
        with self.db.transaction() as tx:
            parent = self._group(tx, ctx, req.parent_group_id)
            limits = quota.lock(tx, parent.project_id) if quota is not None else {}
            remote = self._group(tx, ctx, req.group_id) if req.group_id else None
            if remote is not None and remote.project_id != parent.project_id:
                raise BadRequest("A rule's source group must be of the same project.")
            cidr = self._cidr(req.cidr) if remote is None else None
            protocol = req.ip_protocol.lower() if isinstance(req.ip_protocol, str) else \
                req.ip_protocol
            low, high = _port(req.from_port, "from_port"), _port(req.to_port, "to_port")
            wanted: list[tuple[str, int, int]]
            if not protocol and remote is not None and low is None and high is None:
                wanted = [("icmp", -1, -1), ("tcp", 1, 65535), ("udp", 1, 65535)]
            elif protocol not in PROTOCOLS:
                raise BadRequest(f"Invalid IP protocol {req.ip_protocol}.")
            else:
                assert protocol is not None
                wanted = [(protocol, *check_ports(protocol, low, high))]
            rules = self._rules(tx, [parent.id])[0]
            existing = {(r.protocol, r.from_port, r.to_port, r.cidr, r.remote_group_id)
                        for r in rules}
            made = []
            for proto, first, last in wanted:
                key = (proto, first, last, cidr, remote.id if remote else None)
                if key in existing:
                    raise BadRequest(f"This rule already exists in group {parent.id}")
                rule = Rule(group_id=parent.id, protocol=proto, from_port=first,
                            to_port=last, cidr=cidr,
                            remote_group_id=remote.id if remote else None)
                made.append(rule)
            check(limits, "security_group_rules", len(rules), len(made),
                  "Quota exceeded, too many security group rules.")
            tx.add_all(made)
            tx.flush()
            return self._views(tx, [(parent, made)])[0]

    def delete_rule(self, ctx: RequestContext, rule_id: str) -> str:
        """Delete a rule; returns its group's project id."""
        with self.db.transaction() as tx:
            rule = tx.get(Rule, _int_id(rule_id, f"Rule ({rule_id}) not found"))
            if rule is None:
                raise NotFound(f"Rule ({rule_id}) not found")
            group = self._group(tx, ctx, str(rule.group_id), missing=f"Rule ({rule_id}) not found")
            tx.delete(rule)
            return group.project_id

    # -- what the hosts enforce ---------------------------------------------------
    def enforced_rules(self, tx: Session, project_id: str, names: list[str]
                       ) -> tuple[list[SecurityRule], dict[str, list[str]]]:
        """The driver rules of a member of `names` in `project_id`, and the remote groups
        they name (by group name; the caller fills in the members' addresses)."""
        groups = list(tx.scalars(sa.select(Group).where(Group.project_id == project_id,
                                                        Group.name.in_(names or [DEFAULT]))))
        rules = [r for rs in self._rules(tx, [g.id for g in groups]) for r in rs]
        remote_names = self.names(tx, {r.remote_group_id for r in rules if r.remote_group_id})
        out = []
        for rule in rules:
            protocol = rule.protocol if rule.protocol in PROTOCOLS else None
            low, high = rule.from_port, rule.to_port
            if protocol == "icmp":
                low = None if low is None or low < 0 else low
                high = None if low is None or high is None or high < 0 else high
            out.append(SecurityRule(
                protocol=protocol,  # type: ignore[arg-type]
                port_min=low if protocol else None,
                port_max=high if protocol and low is not None else None,
                remote_cidr=rule.cidr if rule.remote_group_id is None else None,
                remote_group=remote_names.get(rule.remote_group_id or -1)))
        return out, {name: [] for name in remote_names.values()}

    # -- helpers -------------------------------------------------------------------
    def _views(self, tx: Session, pairs: list[tuple[models.SecurityGroup,
                                                    list[models.SecurityGroupRule]]]
               ) -> list[GroupView]:
        wanted = {r.remote_group_id for _, rules in pairs for r in rules if r.remote_group_id}
        sources = self.names(tx, wanted) if wanted else {}
        return [GroupView(GroupRecord.of(g), [RuleRecord.of(r) for r in rules], sources)
                for g, rules in pairs]

    def _group(self, tx: Session, ctx: RequestContext, group_id: str | None,
               missing: str | None = None) -> models.SecurityGroup:
        message = missing or f"Security group {group_id} not found."
        group = tx.get(Group, _int_id(group_id, message))
        if group is None or not (ctx.is_admin or group.project_id == ctx.project_id):
            raise NotFound(message)
        return group

    @staticmethod
    def _rules(tx: Session, group_ids: list[int]) -> list[list[models.SecurityGroupRule]]:
        by_group: dict[int, list[models.SecurityGroupRule]] = {i: [] for i in group_ids}
        for rule in tx.scalars(sa.select(Rule).where(Rule.group_id.in_(group_ids))
                               .order_by(Rule.id)):
            by_group[rule.group_id].append(rule)
        return [by_group[i] for i in group_ids]

    @staticmethod
    def _cidr(cidr: str | None) -> str:
        if cidr is None or cidr == "":
            return "0.0.0.0/0"
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except (ValueError, TypeError):
            raise BadRequest(f"Invalid cidr {cidr}.") from None
        if not isinstance(net, ipaddress.IPv4Network):
            raise BadRequest(f"Invalid cidr {cidr}: Labs networks are IPv4.")
        return str(net)


def _int_id(value: str | None, message: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise NotFound(message) from None
    if not 0 < number < 2**31:
        raise NotFound(message)
    return number


def _project(ctx: RequestContext) -> str:
    if ctx.project_id is None:
        raise BadRequest("A project-scoped token is needed for security groups.")
    return ctx.project_id
