"""Domains and projects."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labs.common.db import apply_changes, matching, save_unique
from labs.common.errors import BadRequest, Conflict, Forbidden, NotFound
from labs.common.names import label_candidates, project_label
from labs.identity import models
from labs.identity.membership import MembershipWatch
from labs.identity.store import IdentityStore

#: Tries at a free label when concurrent creations keep taking the one chosen.
LABEL_ATTEMPTS = 20


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class ProjectFilter:
    name: str | None = None
    domain_id: str | None = None
    enabled: bool | None = None
    parent_id: str | None = None
    ids: list[str] | None = None


def get_row(tx: Session, model: type[Any], row_id: str, what: str) -> Any:
    row = tx.get(model, row_id)
    if row is None:
        raise NotFound(f"Could not find {what}: {row_id}.")
    return row


def _duplicate(what: str) -> Conflict:
    return Conflict(f"Conflict occurred attempting to store project - {what}: duplicate entry.")


def revoke(tx: Session, lifetime: int, **match: str) -> None:
    """Record that tokens matching ``match`` issued until now are revoked."""
    now = utcnow()
    tx.execute(sa.delete(models.RevocationEvent).where(models.RevocationEvent.expires_at < now))
    tx.add(models.RevocationEvent(issued_before=now,
                                  expires_at=now + timedelta(seconds=lifetime + 60), **match))


class ProjectHook(Protocol):
    """Something every project has (its sudo rules), made and removed in the project's
    own transaction."""

    def project_created(self, tx: Session, project: models.Project) -> None: ...

    def project_deleted(self, tx: Session, project: models.Project) -> None: ...


class ResourceService:
    def __init__(self, store: IdentityStore, token_lifetime: int,
                 project_hooks: Sequence[ProjectHook] = (),
                 membership: MembershipWatch | None = None) -> None:
        self.store = store
        self.lifetime = token_lifetime
        self.project_hooks = tuple(project_hooks)
        self.membership = membership or MembershipWatch()

    # -- domains -------------------------------------------------------------
    def create_domain(self, name: str, description: str = "", enabled: bool = True,
                      domain_id: str | None = None) -> models.Domain:
        with self.store.write() as tx:
            row = models.Domain(id=domain_id or new_id(), name=name, description=description,
                                enabled=enabled)
            save_unique(tx, f"domain - a domain named {name!r} exists", row)
            return row

    def get_domain(self, domain_id: str) -> models.Domain:
        with self.store.read() as tx:
            row: models.Domain = get_row(tx, models.Domain, domain_id, "domain")
            return row

    def find_domain(self, tx: Session, name: str) -> models.Domain:
        row = tx.scalars(sa.select(models.Domain).where(models.Domain.name == name)).first()
        if row is None:
            raise NotFound(f"Could not find domain: {name}.")
        return row

    def list_domains(self, name: str | None = None,
                     enabled: bool | None = None) -> list[models.Domain]:
        query = matching(sa.select(models.Domain).order_by(models.Domain.name),
                         name=name, enabled=enabled)
        with self.store.read() as tx:
            return list(tx.scalars(query))

    def update_domain(self, domain_id: str, changes: dict[str, Any]) -> models.Domain:
        with self.store.write() as tx:
            row: models.Domain = get_row(tx, models.Domain, domain_id, "domain")
            apply_changes(row, changes, ("name", "description", "enabled"))
            row.description = row.description or ""  # null clears it
            save_unique(tx, f"domain - a domain named {row.name!r} exists")
            return row

    def delete_domain(self, domain_id: str) -> None:
        with self.store.write() as tx:
            row: models.Domain = get_row(tx, models.Domain, domain_id, "domain")
            if row.enabled:
                raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
            for model in (models.Project, models.User, models.Group):
                if tx.scalars(sa.select(model.id).where(model.domain_id == domain_id)).first():
                    raise Conflict(f"Domain {domain_id} still holds {model.__tablename__}s; "
                                   "delete them first.")
            tx.execute(sa.delete(models.Assignment).where(
                models.Assignment.target_type == models.TARGET_DOMAIN,
                models.Assignment.target_id == domain_id))
            tx.delete(row)

    # -- projects ------------------------------------------------------------
    def create_project(self, fields: dict[str, Any], default_domain_id: str) -> models.Project:
        """A new project; its label is the one proposed, or derived from its name (the
        first of ``<label>``, ``<label>-2``... that no project holds)."""
        name, proposed = fields["name"], fields.get("label")
        with self.store.write() as tx:
            domain_id = fields.get("domain_id") or default_domain_id
            get_row(tx, models.Domain, domain_id, "domain")
            parent_id = fields.get("parent_id")
            if parent_id:
                get_row(tx, models.Project, parent_id, "project")
            base = project_label(name)
            taken = set(tx.scalars(sa.select(models.Project.label).where(
                models.Project.label.startswith(base[:32], autoescape=True))))
            for _attempt in range(LABEL_ATTEMPTS):
                label = proposed or next(c for c in label_candidates(base) if c not in taken)
                row = models.Project(id=new_id(), name=name, label=label, domain_id=domain_id,
                                     parent_id=parent_id,
                                     description=fields.get("description") or "",
                                     enabled=fields.get("enabled", True),
                                     tags=list(fields.get("tags") or []),
                                     extra=dict(fields.get("extra") or {}))
                try:
                    with tx.begin_nested():
                        tx.add(row)
                        tx.flush()
                except IntegrityError:
                    # the unique indexes decide, so concurrent creations never share a label;
                    # a locking read sees the latest rows (past MariaDB's snapshot)
                    if tx.scalars(sa.select(models.Project.id).where(
                            models.Project.name == name, models.Project.domain_id == domain_id)
                            .with_for_update()).first():
                        raise _duplicate(f"a project named {name!r} exists in the domain") \
                            from None
                    if proposed:
                        raise _duplicate(f"a project labelled {proposed!r} exists") from None
                    taken.add(label)
                    continue
                for hook in self.project_hooks:
                    hook.project_created(tx, row)
                return row
            raise Conflict(f"Could not find a free label for project {name!r}; try again.")

    def get_project(self, project_id: str) -> models.Project:
        with self.store.read() as tx:
            row: models.Project = get_row(tx, models.Project, project_id, "project")
            return row

    def label_of(self, project_id: str) -> str:
        """The project's label: its name where a name must be a DNS label (its posix
        group ``project-<label>``, its servers' FQDNs, homes and exports)."""
        return self.get_project(project_id).label

    def find_project(self, tx: Session, name: str, domain_id: str) -> models.Project:
        row = tx.scalars(sa.select(models.Project).where(
            models.Project.name == name, models.Project.domain_id == domain_id)).first()
        if row is None:
            raise NotFound(f"Could not find project: {name}.")
        return row

    def list_projects(self, where: ProjectFilter) -> list[models.Project]:
        query = matching(sa.select(models.Project).order_by(models.Project.name),
                         name=where.name, domain_id=where.domain_id, enabled=where.enabled,
                         parent_id=where.parent_id)
        if where.ids is not None:
            query = query.where(models.Project.id.in_(where.ids))
        with self.store.read() as tx:
            return list(tx.scalars(query))

    def update_project(self, project_id: str, changes: dict[str, Any]) -> models.Project:
        if "label" in changes:
            raise BadRequest("A project's label is fixed at creation; it cannot be changed.")
        if "domain_id" in changes:
            raise BadRequest("The domain of a project cannot be changed.")
        with self.store.write() as tx:
            row: models.Project = get_row(tx, models.Project, project_id, "project")
            apply_changes(row, changes, ("name", "description", "enabled", "tags"))
            row.description = row.description or ""  # null clears it
            if changes.get("extra"):
                row.extra = {**(row.extra or {}), **changes["extra"]}
            # before revoke(): its statements would flush a clashing name outside the savepoint
            save_unique(tx, f"project - a project named {row.name!r} exists in the domain")
            if changes.get("enabled") is False:
                revoke(tx, self.lifetime, project_id=project_id)
            if "enabled" in changes:  # a disabled project has no members
                self.membership.projects_changed(tx, [project_id])
            return row

    def delete_project(self, project_id: str) -> None:
        with self.store.write() as tx:
            row = get_row(tx, models.Project, project_id, "project")
            if tx.scalars(sa.select(models.Project.id).where(
                    models.Project.parent_id == project_id)).first():
                raise Forbidden(f"Project {project_id} has child projects; delete them first.")
            tx.execute(sa.delete(models.Assignment).where(
                models.Assignment.target_type == models.TARGET_PROJECT,
                models.Assignment.target_id == project_id))
            revoke(tx, self.lifetime, project_id=project_id)
            for hook in self.project_hooks:
                hook.project_deleted(tx, row)
            tx.delete(row)
