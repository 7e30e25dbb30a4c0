"""Who may log into a project's VMs, from identity: members directly or through a group,
enabled, with their keys; the project's group and sudo rules; the same few queries
whatever the number of members (both engines)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from labs.identity import models
from labs.identity.assignments import Grant
from labs.identity.service import IdentityService
from tests.accounts.keys_helpers import ed25519_public


def member(identity: IdentityService, name: str, project_id: str, keys: int = 1) -> str:
    user = identity.users.create_user({"name": name}, "default").id
    role = identity.assignments.list_roles("member")[0]
    identity.assignments.create_grant(Grant(role.id, models.ACTOR_USER, user,
                                            models.TARGET_PROJECT, project_id))
    with identity.store.write() as tx:
        for _ in range(keys):
            identity.backend.add_ssh_key(tx, user, ed25519_public())
    return user


@contextmanager
def counted(identity: IdentityService) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])
    engine = identity.store.db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_members_keys_group_and_rules(identity: IdentityService) -> None:
    project = identity.resources.create_project({"name": "tools"}, "default").id
    other = identity.resources.create_project({"name": "other"}, "default").id
    alice = member(identity, "alice", project, keys=2)
    member(identity, "carol", other)
    bob = identity.users.create_user({"name": "bob"}, "default").id
    group = identity.users.create_group({"name": "ops"}, "default")
    identity.users.add_user_to_group(bob, group.id)
    role = identity.assignments.list_roles("reader")[0]
    identity.assignments.create_grant(Grant(role.id, models.ACTOR_GROUP, group.id,
                                            models.TARGET_PROJECT, project))
    record = identity.project_access(project)
    assert record is not None and record.label == "tools"
    assert record.gid == identity.project_gid(project)
    assert [m.shell_name for m in record.members] == ["alice", "bob"]
    assert len(record.members[0].ssh_keys) == 2 and record.members[1].ssh_keys == ()
    assert record.members[0].uid == identity.users.get_user(alice).posix.uid_number  # type: ignore[union-attr]
    assert "%project-tools" in record.sudoers

    identity.users.update_user(bob, {"enabled": False})
    record = identity.project_access(project)
    assert record is not None and [m.shell_name for m in record.members] == ["alice"]
    identity.resources.update_project(project, {"enabled": False})
    record = identity.project_access(project)
    assert record is not None and record.members == ()
    assert identity.project_access("no-such-project") is None


def test_the_same_queries_for_one_member_or_many(identity: IdentityService) -> None:
    project = identity.resources.create_project({"name": "many"}, "default").id
    member(identity, "first", project)
    with counted(identity) as one:
        identity.project_access(project)
    for i in range(8):
        member(identity, f"user{i}", project)
    with counted(identity) as nine:
        record = identity.project_access(project)
    assert record is not None and len(record.members) == 9
    assert len(nine) == len(one), nine
