"""Who is told when a project's members may have changed.

A project's members are those its VMs let in (``labs.identity.access``): the enabled
users with a POSIX account holding any role on it, directly or through a group, while
the project is enabled. Identity calls a :class:`MembershipWatch` inside the unit of
work of every change that can change them: a grant or revocation on a project, a role
deleted, a project enabled or disabled, a user enabled, disabled or deleted, a group's
members changed, a group deleted, a project created or deleted. The base class does
nothing (a site without a directory); the directory's project groups
(:mod:`labs.identity.project_groups`) follow them.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.identity import models

A = models.Assignment


def projects_of_actors(tx: Session, actor_type: str, actor_ids: Iterable[str]) -> set[str]:
    """The projects on which these users or groups hold any role."""
    ids = list(actor_ids)
    if not ids:
        return set()
    return set(tx.scalars(sa.select(A.target_id).distinct().where(
        A.actor_type == actor_type, A.actor_id.in_(ids),
        A.target_type == models.TARGET_PROJECT)))


class MembershipWatch:
    """Told of changes to project membership, in the changing unit of work; does
    nothing."""

    def projects_changed(self, tx: Session, project_ids: Iterable[str]) -> None:
        """These projects' members may have changed."""

    def users_changed(self, tx: Session, user_ids: Iterable[str]) -> None:
        """These users were enabled, disabled or are being deleted."""

    def groups_changed(self, tx: Session, group_ids: Iterable[str]) -> None:
        """These groups' members changed, or the groups are being deleted."""

    def role_deleted(self, tx: Session, role_id: str) -> None:
        """The role is being deleted (its grants still in ``tx``)."""

    # identity's project hook
    def project_created(self, tx: Session, project: models.Project) -> None:
        """A new project (no members yet)."""

    def project_deleted(self, tx: Session, project: models.Project) -> None:
        """The project goes (its assignments are already deleted in ``tx``)."""
