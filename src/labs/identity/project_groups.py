"""Each project's posix group in the directory, in step with its members.

``cn=project-<label>,ou=groups,<base>`` (LABS.md "Accounts") is one entry of two
classes: ``groupOfNames`` (``member``: the members' DNs ``uid=<shell>,ou=people``) and
``posixGroup`` (``gidNumber``: the project's gid; ``memberUid``: their shell names). The
private slapd loads nis with posixGroup AUXILIARY, as rfc2307bis has it, so the two
share the entry (see ``labs.directory.slapd_files``).

groupOfNames needs a ``member``: the group of a project without members holds its own
DN, which is no account (nothing logs in through it, and ``memberUid`` stays empty).

Who the members are is :mod:`labs.identity.membership`'s rule. Identity marks the
projects a change may touch inside its unit of work; once that commits, each marked
group is computed again from SQL and the backend and written with one modify (replace),
or added. A failure there (the directory away) is logged and left to :meth:`reconcile`,
which the identity server runs every minute and which puts every group right, removes
the groups of projects that are gone, and logs what it repaired. Deleting a project
deletes its group in the project's unit of work (undone if that rolls back).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

import sqlalchemy as sa
from ldap3 import LEVEL, MODIFY_REPLACE
from ldap3.core import exceptions as ldap_errors
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from labs.directory.connection import Directory, all_of, rdn
from labs.directory.undo import UndoJournal
from labs.identity import models
from labs.identity.access import login_members
from labs.identity.backends.base import IdentityBackend
from labs.identity.membership import A, MembershipWatch, projects_of_actors
from labs.identity.posix import ProjectGroups
from labs.identity.store import IdentityStore

log = logging.getLogger(__name__)
_PENDING = "labs.identity.project_groups"
GROUP_CLASSES = ["top", "groupOfNames", "posixGroup"]
SYNCED = ("gidNumber", "member", "memberUid")


def group_name(label: str) -> str:
    return f"project-{label}"


class DirectoryProjectGroups(MembershipWatch):
    def __init__(self, directory: Directory, backend: IdentityBackend, store: IdentityStore,
                 journal: UndoJournal | None = None) -> None:
        self.directory = directory
        self.backend = backend
        self.store = store
        self.journal = journal or UndoJournal(directory)
        self.groups = f"ou=groups,{directory.base_dn}"
        self.people = f"ou=people,{directory.base_dn}"
        self._layout_ready = False

    def group_dn(self, label: str) -> str:
        return f"{rdn('cn', group_name(label))},{self.groups}"

    # -- what identity tells ---------------------------------------------------
    def projects_changed(self, tx: Session, project_ids: Iterable[str]) -> None:
        pending: set[str] | None = tx.info.get(_PENDING)
        if pending is None:
            pending = tx.info[_PENDING] = set()
            marked = pending

            def committed(session: Session) -> None:
                if not session.in_nested_transaction() and marked:
                    ids = sorted(marked)
                    marked.clear()
                    self.sync_quietly(ids)

            def rolled_back(_session: Session, previous: SessionTransaction) -> None:
                if previous.parent is None:
                    marked.clear()

            event.listen(tx, "after_commit", committed)
            event.listen(tx, "after_soft_rollback", rolled_back)
        pending.update(project_ids)

    def users_changed(self, tx: Session, user_ids: Iterable[str]) -> None:
        ids = list(user_ids)
        groups = {g for user in ids for g in self.backend.list_user_group_ids(tx, user)}
        self.projects_changed(tx, projects_of_actors(tx, models.ACTOR_USER, ids)
                              | projects_of_actors(tx, models.ACTOR_GROUP, groups))

    def groups_changed(self, tx: Session, group_ids: Iterable[str]) -> None:
        self.projects_changed(tx, projects_of_actors(tx, models.ACTOR_GROUP, group_ids))

    def role_deleted(self, tx: Session, role_id: str) -> None:
        self.projects_changed(tx, tx.scalars(sa.select(A.target_id).distinct().where(
            A.role_id == role_id, A.target_type == models.TARGET_PROJECT)))

    def project_created(self, tx: Session, project: models.Project) -> None:
        self.projects_changed(tx, [project.id])

    def project_deleted(self, tx: Session, project: models.Project) -> None:
        pending: set[str] | None = tx.info.get(_PENDING)
        if pending is not None:
            pending.discard(project.id)
        dn = self.group_dn(project.label)
        entry = self.directory.read(dn, ["*"])
        if entry is None:
            return

        def restore() -> None:
            with suppress(ldap_errors.LDAPEntryAlreadyExistsResult):
                self.directory.add(dn, entry.attributes)

        def delete() -> None:
            with suppress(ldap_errors.LDAPNoSuchObjectResult):
                self.directory.delete(dn)
        self.journal.write(tx, "delete project group", delete, restore)

    # -- writing groups --------------------------------------------------------
    def members(self, tx: Session, project: models.Project) -> list[tuple[str, str]]:
        """The project's members as (DN, shell name), ordered by shell name: those its
        VMs let in (``labs.identity.access``)."""
        shells = sorted(u.posix.shell_name for u in login_members(tx, self.backend, project)
                        if u.posix is not None)
        return [(f"{rdn('uid', shell)},{self.people}", shell) for shell in shells]

    def desired(self, tx: Session, project: models.Project) -> dict[str, list[str]] | None:
        """The group's synced attributes, or None while the project has no gid."""
        gid = ProjectGroups.gid(tx, project.id)
        if gid is None:
            return None
        members = self.members(tx, project)
        return {"gidNumber": [str(gid)],
                "member": [dn for dn, _ in members] or [self.group_dn(project.label)],
                "memberUid": [shell for _, shell in members]}

    def _ensure_layout(self) -> None:
        if not self._layout_ready:
            if self.directory.read(self.groups, ["ou"]) is None:
                with suppress(ldap_errors.LDAPEntryAlreadyExistsResult):
                    self.directory.add(self.groups, {"objectClass": ["organizationalUnit"],
                                                     "ou": "groups"})
            self._layout_ready = True

    def write_group(self, tx: Session, project: models.Project) -> bool:
        """Put the project's group right; whether anything had to change."""
        want = self.desired(tx, project)
        if want is None:
            return False
        self._ensure_layout()
        dn = self.group_dn(project.label)
        entry = self.directory.read(dn, ["objectClass", *SYNCED])
        if entry is None:
            attributes: dict[str, Any] = {"objectClass": GROUP_CLASSES,
                                          "cn": group_name(project.label)}
            attributes.update({k: v for k, v in want.items() if v})
            self.directory.add(dn, attributes)
            return True
        have = {k: sorted(entry.attributes.get(k.lower(), [])) for k in SYNCED}
        changes = {k: [(MODIFY_REPLACE, v)] for k, v in want.items() if sorted(v) != have[k]}
        classes = {c.lower() for c in entry.attributes.get("objectclass", [])}
        if not {"groupofnames", "posixgroup"} <= classes:
            changes["objectClass"] = [(MODIFY_REPLACE, GROUP_CLASSES)]
        if changes:
            self.directory.modify(dn, changes)
        return bool(changes)

    def sync(self, project_ids: Iterable[str]) -> None:
        with self.store.read() as tx:
            for project_id in project_ids:
                project = tx.get(models.Project, project_id)
                if project is not None:
                    self.write_group(tx, project)

    def sync_quietly(self, project_ids: Iterable[str]) -> None:
        """:meth:`sync` after a commit: a failure is logged and left to the reconcile."""
        try:
            self.sync(project_ids)
        except Exception as exc:
            log.warning("could not write the directory groups of projects %s (the next "
                        "reconcile will): %s", ", ".join(project_ids), exc)

    def reconcile(self) -> list[str]:
        """Every project's group as it should be, and none for projects that are gone;
        the names of the groups repaired (logged)."""
        repaired: list[str] = []
        with self.store.read() as tx:
            labels = set()
            for project in tx.scalars(sa.select(models.Project).order_by(models.Project.label)):
                labels.add(project.label)
                if self.write_group(tx, project):
                    repaired.append(group_name(project.label))
        stray = self.directory.search(self.groups, all_of(
            "(objectClass=posixGroup)", "(objectClass=groupOfNames)", "(cn=project-*)"),
            ["cn"], scope=LEVEL)
        for entry in stray:
            name = entry.first("cn") or ""
            if name.startswith("project-") and name[len("project-"):] not in labels:
                with suppress(ldap_errors.LDAPNoSuchObjectResult):
                    self.directory.delete(entry.dn)
                repaired.append(name)
        for name in repaired:
            log.warning("directory: repaired the posix group %s", name)
        return repaired

