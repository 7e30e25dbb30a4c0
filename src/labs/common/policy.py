"""One policy engine for every service, the APIs and the dashboard alike.

Rules are small predicates over the caller (``RequestContext``) and a target
(a mapping describing what is acted on: ``project_id``, ``user_id``, ...).
Each service names its rules in one module (``labs.<service>.policy``); the
engine merges them so a UI can ask the same question an API handler asks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import Forbidden

Target = Mapping[str, Any]
Rule = Callable[[RequestContext, Target], bool]

#: The Labs roles: cloud-wide ``admin``; per project ``projectadmin``, ``member``, ``reader``.
ROLES = ("admin", "projectadmin", "member", "reader")


def role(*names: str) -> Rule:
    """The caller holds one of these roles in the token's scope."""
    wanted = frozenset(names)
    return lambda ctx, _target: bool(ctx.roles & wanted)


def any_of(*rules: Rule) -> Rule:
    return lambda ctx, target: any(rule(ctx, target) for rule in rules)


def all_of(*rules: Rule) -> Rule:
    return lambda ctx, target: all(rule(ctx, target) for rule in rules)


def always(_ctx: RequestContext, _target: Target) -> bool:
    return True


admin: Rule = role("admin")


def in_project(*names: str) -> Rule:
    """The token is scoped to the target's project and carries one of these roles."""
    wanted = frozenset(names)
    return lambda ctx, target: (
        ctx.project_id is not None
        and ctx.project_id == target.get("project_id")
        and bool(ctx.roles & wanted)
    )


def in_domain(*names: str) -> Rule:
    """The token is scoped to the target's domain and carries one of these roles."""
    wanted = frozenset(names)
    return lambda ctx, target: (
        ctx.domain_id is not None
        and ctx.domain_id == target.get("domain_id")
        and bool(ctx.roles & wanted)
    )


def is_owner(ctx: RequestContext, target: Target) -> bool:
    """The caller is the user the target belongs to."""
    return target.get("user_id") == ctx.user_id


def system_reader(ctx: RequestContext, _target: Target) -> bool:
    """A system-scoped token with a reader role or better: a cloud-wide reader."""
    return ctx.system_scope and bool(ctx.roles & {"reader", "member", "projectadmin", "admin"})


#: Reader-or-better and member-or-better of the target project.
project_reader = in_project("reader", "member", "projectadmin", "admin")
project_member = in_project("member", "projectadmin", "admin")
project_admin = in_project("projectadmin", "admin")


class Policy:
    """Named rules; ``enforce`` raises 403 Forbidden when a rule says no."""

    def __init__(self, *rule_sets: Mapping[str, Rule]) -> None:
        self._rules: dict[str, Rule] = {}
        for rules in rule_sets:
            clash = self._rules.keys() & rules.keys()
            if clash:
                raise ValueError(f"policy rules defined twice: {sorted(clash)}")
            self._rules.update(rules)

    def allowed(self, name: str, ctx: RequestContext, target: Target | None = None) -> bool:
        try:
            rule = self._rules[name]
        except KeyError:
            raise KeyError(f"no policy rule named {name!r}") from None
        return rule(ctx, target or {})

    def enforce(self, name: str, ctx: RequestContext, target: Target | None = None) -> None:
        if not self.allowed(name, ctx, target):
            raise Forbidden(f"You are not authorized to perform the requested action: {name}.")

    @property
    def names(self) -> list[str]:
        return sorted(self._rules)
