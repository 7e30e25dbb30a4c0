"""Roles and who holds them where (grants on projects, domains and the system)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import apply_changes, matching, save_unique
from labs.common.errors import NotFound
from labs.identity import models
from labs.identity.backends.base import IdentityBackend
from labs.identity.implied_roles import implied_by
from labs.identity.membership import MembershipWatch
from labs.identity.resources import get_row, new_id
from labs.identity.store import IdentityStore

A = models.Assignment


@dataclass(frozen=True)
class Grant:
    """One role assignment; ``via_group`` is set when it was expanded from a group's."""

    role_id: str
    actor_type: str
    actor_id: str
    target_type: str
    target_id: str
    via_group: str | None = None
    #: Set on an effective assignment of a role implied by this (held) role.
    prior_role_id: str | None = None


@dataclass(frozen=True)
class AssignmentFilter:
    user_id: str | None = None
    group_id: str | None = None
    role_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    effective: bool = False


def _target(target_type: str, target_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(A.target_type == target_type, A.target_id == target_id)


def role_ids_for(tx: Session, backend: IdentityBackend, user_id: str, target_type: str,
                 target_id: str) -> list[str]:
    """The roles a user holds on a target, directly or through its groups."""
    group_ids = backend.list_user_group_ids(tx, user_id)
    actor = sa.and_(A.actor_type == models.ACTOR_USER, A.actor_id == user_id)
    if group_ids:
        actor = sa.or_(actor, sa.and_(A.actor_type == models.ACTOR_GROUP,
                                      A.actor_id.in_(group_ids)))
    rows = tx.scalars(sa.select(A.role_id).distinct().where(actor, _target(target_type,
                                                                           target_id)))
    return list(rows)


class AssignmentService:
    def __init__(self, store: IdentityStore, backend: IdentityBackend,
                 membership: MembershipWatch | None = None) -> None:
        self.store = store
        self.backend = backend
        self.membership = membership or MembershipWatch()

    # -- roles ---------------------------------------------------------------
    def create_role(self, name: str, description: str = "") -> models.Role:
        with self.store.write() as tx:
            row = models.Role(id=new_id(), name=name, description=description)
            save_unique(tx, f"role - a role named {name!r} exists", row)
            return row

    def get_role(self, role_id: str) -> models.Role:
        with self.store.read() as tx:
            row: models.Role = get_row(tx, models.Role, role_id, "role")
            return row

    def list_roles(self, name: str | None = None) -> list[models.Role]:
        query = matching(sa.select(models.Role).order_by(models.Role.name), name=name)
        with self.store.read() as tx:
            return list(tx.scalars(query))

    def update_role(self, role_id: str, changes: dict[str, Any]) -> models.Role:
        with self.store.write() as tx:
            row: models.Role = get_row(tx, models.Role, role_id, "role")
            apply_changes(row, changes, ("name", "description"))
            row.description = row.description or ""  # null clears it
            save_unique(tx, f"role - a role named {row.name!r} exists")
            return row

    def delete_role(self, role_id: str) -> None:
        with self.store.write() as tx:
            row = get_row(tx, models.Role, role_id, "role")
            self.membership.role_deleted(tx, role_id)
            tx.execute(sa.delete(A).where(A.role_id == role_id))
            tx.delete(row)

    # -- grants --------------------------------------------------------------
    def _check_parts(self, tx: Session, grant: Grant) -> None:
        if grant.role_id:
            get_row(tx, models.Role, grant.role_id, "role")
        if grant.actor_type == models.ACTOR_USER:
            self.backend.get_user(tx, grant.actor_id)
        else:
            self.backend.get_group(tx, grant.actor_id)
        if grant.target_type == models.TARGET_PROJECT:
            get_row(tx, models.Project, grant.target_id, "project")
        elif grant.target_type == models.TARGET_DOMAIN:
            get_row(tx, models.Domain, grant.target_id, "domain")

    def _key(self, grant: Grant) -> tuple[str, str, str, str, str]:
        return (grant.actor_type, grant.actor_id, grant.target_type, grant.target_id,
                grant.role_id)

    def create_grant(self, grant: Grant) -> None:
        """Idempotent, as Keystone's PUT is."""
        with self.store.write() as tx:
            self._check_parts(tx, grant)
            if tx.get(A, self._key(grant)) is None:
                tx.add(A(actor_type=grant.actor_type, actor_id=grant.actor_id,
                         target_type=grant.target_type, target_id=grant.target_id,
                         role_id=grant.role_id))
                self._changed(tx, grant)

    def check_grant(self, grant: Grant) -> None:
        with self.store.read() as tx:
            self._check_parts(tx, grant)
            if tx.get(A, self._key(grant)) is None:
                raise NotFound(f"Could not find role assignment of role {grant.role_id} "
                               f"to {grant.actor_type} {grant.actor_id}.")

    def delete_grant(self, grant: Grant) -> None:
        with self.store.write() as tx:
            self._check_parts(tx, grant)
            row = tx.get(A, self._key(grant))
            if row is None:
                raise NotFound(f"Could not find role assignment of role {grant.role_id} "
                               f"to {grant.actor_type} {grant.actor_id}.")
            tx.delete(row)
            self._changed(tx, grant)

    def _changed(self, tx: Session, grant: Grant) -> None:
        if grant.target_type == models.TARGET_PROJECT:
            self.membership.projects_changed(tx, [grant.target_id])

    def list_grant_roles(self, actor_type: str, actor_id: str, target_type: str,
                         target_id: str) -> list[models.Role]:
        with self.store.read() as tx:
            self._check_parts(tx, Grant("", actor_type, actor_id, target_type, target_id))
            rows = tx.scalars(sa.select(models.Role).join(A, A.role_id == models.Role.id).where(
                A.actor_type == actor_type, A.actor_id == actor_id,
                _target(target_type, target_id)).order_by(models.Role.name))
            return list(rows)

    # -- listing -------------------------------------------------------------
    def list_assignments(self, where: AssignmentFilter) -> list[Grant]:
        with self.store.read() as tx:
            query = sa.select(A)
            if where.role_id and not where.effective:  # effective: after the inference
                query = query.where(A.role_id == where.role_id)
            if where.project_id:
                query = query.where(_target(models.TARGET_PROJECT, where.project_id))
            elif where.domain_id:
                query = query.where(_target(models.TARGET_DOMAIN, where.domain_id))
            elif where.system:
                query = query.where(A.target_type == models.TARGET_SYSTEM)
            if where.group_id:
                query = query.where(A.actor_type == models.ACTOR_GROUP,
                                    A.actor_id == where.group_id)
            elif where.user_id and not where.effective:
                query = query.where(A.actor_type == models.ACTOR_USER,
                                    A.actor_id == where.user_id)
            elif where.user_id:
                group_ids = self.backend.list_user_group_ids(tx, where.user_id)
                query = query.where(sa.or_(
                    sa.and_(A.actor_type == models.ACTOR_USER, A.actor_id == where.user_id),
                    sa.and_(A.actor_type == models.ACTOR_GROUP, A.actor_id.in_(group_ids))))
            grants = [Grant(r.role_id, r.actor_type, r.actor_id, r.target_type, r.target_id)
                      for r in tx.scalars(query.order_by(A.target_id, A.actor_id, A.role_id))]
            if not where.effective:
                return grants
            grants = self._expand_implied(tx, self._expand_groups(tx, grants, where.user_id))
            return [g for g in grants if not where.role_id or g.role_id == where.role_id]

    @staticmethod
    def _expand_implied(tx: Session, grants: list[Grant]) -> list[Grant]:
        """Effective view: each grant brings the roles its role implies (as Keystone)."""
        out = list(grants)
        seen = {(g.actor_id, g.target_type, g.target_id, g.role_id) for g in grants}
        for grant in grants:
            key = (grant.actor_id, grant.target_type, grant.target_id)
            for role_id, prior in implied_by(tx, [grant.role_id]).items():
                if (*key, role_id) in seen:
                    continue
                seen.add((*key, role_id))
                out.append(replace(grant, role_id=role_id, prior_role_id=prior))
        return out

    def _expand_groups(self, tx: Session, grants: list[Grant],
                       only_user: str | None) -> list[Grant]:
        """Effective view: a group's grant becomes one grant per member."""
        out: list[Grant] = []
        seen: set[tuple[str, ...]] = set()
        for grant in grants:
            if grant.actor_type == models.ACTOR_USER:
                users = [grant.actor_id]
                via = None
            else:
                users = [u.id for u in self.backend.list_group_members(tx, grant.actor_id)]
                via = grant.actor_id
            for user_id in users:
                if only_user and user_id != only_user:
                    continue
                key = (user_id, grant.target_type, grant.target_id, grant.role_id)
                if key in seen:
                    continue
                seen.add(key)
                out.append(Grant(grant.role_id, models.ACTOR_USER, user_id, grant.target_type,
                                 grant.target_id, via))
        return out

    def projects_for_user(self, user_id: str) -> list[models.Project]:
        """Enabled projects where the user holds any role (``/v3/auth/projects``)."""
        return self._targets_for_user(user_id, models.TARGET_PROJECT, models.Project)

    def domains_for_user(self, user_id: str) -> list[models.Domain]:
        return self._targets_for_user(user_id, models.TARGET_DOMAIN, models.Domain)

    def _targets_for_user(self, user_id: str, target_type: str, model: Any) -> list[Any]:
        with self.store.read() as tx:
            group_ids = self.backend.list_user_group_ids(tx, user_id)
            actor = sa.and_(A.actor_type == models.ACTOR_USER, A.actor_id == user_id)
            if group_ids:
                actor = sa.or_(actor, sa.and_(A.actor_type == models.ACTOR_GROUP,
                                              A.actor_id.in_(group_ids)))
            ids = sa.select(A.target_id).where(actor, A.target_type == target_type)
            return list(tx.scalars(sa.select(model).where(
                model.id.in_(ids), model.enabled.is_(True)).order_by(model.name)))

    def names(self, role_ids: list[str]) -> dict[str, str]:
        with self.store.read() as tx:
            rows = tx.execute(sa.select(models.Role.id, models.Role.name).where(
                models.Role.id.in_(role_ids)))
            return {row.id: row.name for row in rows}

    def describe(self, grants: list[Grant]) -> dict[Any, Any]:
        """Names for ``include_names``: (kind, id) -> name, or (name, domain) for actors."""
        names: dict[Any, Any] = {}
        with self.store.read() as tx:
            domains = {d.id: {"id": d.id, "name": d.name}
                       for d in tx.scalars(sa.select(models.Domain))}
            for role in tx.scalars(sa.select(models.Role).where(
                    models.Role.id.in_({g.role_id for g in grants}))):
                names[("role", role.id)] = role.name
            for project in tx.scalars(sa.select(models.Project).where(models.Project.id.in_(
                    {g.target_id for g in grants if g.target_type == models.TARGET_PROJECT}))):
                names[("project", project.id)] = {"name": project.name,
                                                  "domain": domains.get(project.domain_id)}
            for domain_id, domain in domains.items():
                names[("domain", domain_id)] = {"name": domain["name"]}
            for grant in grants:
                key = ("user" if grant.actor_type == models.ACTOR_USER else "group",
                       grant.actor_id)
                if key in names:
                    continue
                try:
                    actor: Any = (self.backend.get_user(tx, grant.actor_id)
                                  if key[0] == "user" else
                                  self.backend.get_group(tx, grant.actor_id))
                except NotFound:
                    continue
                names[key] = (actor.name, domains.get(actor.domain_id))
        return names
