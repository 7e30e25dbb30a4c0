"""Who may log into a project's VMs: the project's access record, computed from identity
in one transaction with a fixed number of queries whatever the number of members.

The members are the users holding ``member`` on the project, directly, through a group or
by a role that implies it (``projectadmin``, ``admin``: the roles a project-scoped token
would carry), enabled, in an enabled domain, and with a POSIX account. A ``reader``
only reads the project through the APIs: it does not log into the VMs, whose default sudo
rules make every member root. A disabled project has no members. The metadata service
serves the record to the project's VMs (labs.network.agent.metadata.access), which keep
their accounts, keys and sudo rules in step with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.identity import models
from labs.identity.backends.base import IdentityBackend, UserFilter, UserRecord
from labs.identity.posix import ProjectGroups
from labs.identity.sudo.store import SudoRuleStore
from labs.identity.sudo.sudoers import render_sudoers

A = models.Assignment


@dataclass(frozen=True)
class AccessMember:
    shell_name: str
    uid: int
    gid: int
    login_shell: str
    ssh_keys: tuple[str, ...]


@dataclass(frozen=True)
class ProjectAccessRecord:
    project_id: str
    label: str
    gid: int
    members: tuple[AccessMember, ...]
    sudoers: str

    def to_dict(self) -> dict[str, Any]:
        """The record as the bus carries it (JSON)."""
        return {"project_id": self.project_id, "label": self.label, "gid": self.gid,
                "sudoers": self.sudoers,
                "accounts": [{"shell_name": m.shell_name, "uid": m.uid, "gid": m.gid,
                              "login_shell": m.login_shell, "ssh_keys": list(m.ssh_keys)}
                             for m in self.members]}


#: The role that lets a person into the project's VMs (held, or implied by one held).
LOGIN_ROLE = "member"


def login_role_ids(tx: Session) -> set[str]:
    """The roles that are, or imply, ``member``."""
    names = dict(tx.execute(sa.select(models.Role.id, models.Role.name)).all())
    implied_by: dict[str, set[str]] = {}
    for prior, implied in tx.execute(sa.select(models.ImpliedRole.prior_role_id,
                                               models.ImpliedRole.implied_role_id)):
        implied_by.setdefault(implied, set()).add(prior)
    found = {role_id for role_id, name in names.items() if name == LOGIN_ROLE}
    todo = list(found)
    while todo:  # walk the implication rules backwards from member
        for prior in implied_by.get(todo.pop(), ()):
            if prior not in found:
                found.add(prior)
                todo.append(prior)
    return found


def member_ids(tx: Session, backend: IdentityBackend, project_id: str) -> set[str]:
    """Users holding ``member`` on the project (or a role implying it), directly or
    through a group."""
    actors = tx.execute(sa.select(A.actor_type, A.actor_id).distinct().where(
        A.target_type == models.TARGET_PROJECT, A.target_id == project_id,
        A.role_id.in_(login_role_ids(tx)))).all()
    users = {actor_id for kind, actor_id in actors if kind == models.ACTOR_USER}
    for kind, group_id in actors:
        if kind == models.ACTOR_GROUP:
            users.update(u.id for u in backend.list_group_members(tx, group_id))
    return users


def login_members(tx: Session, backend: IdentityBackend,
                  project: models.Project) -> list[UserRecord]:
    """The people who log into the project's VMs (and make its directory group): members
    (`member_ids`), enabled, in an enabled domain, with a POSIX account; none while the
    project is disabled."""
    ids = sorted(member_ids(tx, backend, project.id)) if project.enabled else []
    if not ids:
        return []
    enabled_domains = set(tx.scalars(sa.select(models.Domain.id).where(
        models.Domain.enabled.is_(True))))
    return [u for u in backend.list_users(tx, UserFilter(ids=ids, enabled=True))
            if u.posix is not None and u.domain_id in enabled_domains]


def project_access(tx: Session, backend: IdentityBackend, sudo_rules: SudoRuleStore,
                   project_id: str) -> ProjectAccessRecord | None:
    """The project's access record; None when there is no such project."""
    project = tx.get(models.Project, project_id)
    gid = ProjectGroups.gid(tx, project_id) if project is not None else None
    if project is None or gid is None:
        return None
    members: list[AccessMember] = []
    users = login_members(tx, backend, project)
    if users:
        keys = backend.ssh_keys_of(tx, [u.id for u in users])
        for user in users:
            posix = user.posix
            assert posix is not None
            members.append(AccessMember(posix.shell_name, posix.uid_number, posix.gid_number,
                                        posix.login_shell, tuple(keys.get(user.id, ()))))
    sudoers = render_sudoers(project.label, sudo_rules.list_rules(tx, project_id))
    return ProjectAccessRecord(project.id, project.label, gid,
                               tuple(sorted(members, key=lambda m: m.shell_name)), sudoers)
