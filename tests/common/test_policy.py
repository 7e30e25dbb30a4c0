"""The policy engine and its rule helpers."""

from __future__ import annotations

import pytest

from labs.common.context import RequestContext
from labs.common.errors import Forbidden
from labs.common.policy import Policy, admin, any_of, is_owner, project_admin, project_reader


def ctx(roles: set[str], project: str | None = "a", user: str = "u") -> RequestContext:
    return RequestContext(user_id=user, project_id=project, roles=frozenset(roles))


def test_project_rules_need_the_token_scoped_to_that_project() -> None:
    assert project_reader(ctx({"reader"}), {"project_id": "a"})
    assert not project_reader(ctx({"reader"}), {"project_id": "b"})
    assert not project_admin(ctx({"member"}), {"project_id": "a"})
    assert project_admin(ctx({"projectadmin"}), {"project_id": "a"})
    assert not project_reader(ctx({"member"}, project=None), {"project_id": None})


def test_enforce_raises_forbidden_with_the_rule_name() -> None:
    policy = Policy({"thing:get": any_of(admin, is_owner)})
    policy.enforce("thing:get", ctx({"admin"}))
    policy.enforce("thing:get", ctx(set(), user="me"), {"user_id": "me"})
    with pytest.raises(Forbidden, match="thing:get"):
        policy.enforce("thing:get", ctx({"member"}), {"user_id": "other"})
    with pytest.raises(KeyError):
        policy.allowed("thing:nope", ctx({"admin"}))


def test_rule_sets_must_not_overlap() -> None:
    with pytest.raises(ValueError, match="twice"):
        Policy({"a": admin}, {"a": admin})
