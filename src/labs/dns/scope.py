"""Who acts on DNS data, and which projects' zones that caller sees."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.sql.elements import SQLCoreOperations

from labs.dns.errors import BadRequest


@dataclass(frozen=True)
class Caller:
    """The caller of one DNS operation.

    ``project_id`` is the project it acts as (the token's, or the one an admin names in
    ``x-auth-sudo-project-id``); with ``all_projects`` (admins' ``x-auth-all-projects``)
    it sees and changes every project's zones. ``edit_managed`` lets an admin change
    records the cloud made for its VMs; ``admin`` may take any zone name.
    """

    project_id: str | None
    all_projects: bool = False
    admin: bool = False
    edit_managed: bool = False
    #: the label of the project it acts as (its part of DNS names), when known (not with sudo)
    project_label: str | None = None

    def sees(self, project_column: SQLCoreOperations[str]) -> sa.ColumnElement[bool]:
        if self.all_projects:
            return sa.true()
        if self.project_id is None:
            return sa.false()
        return project_column == self.project_id

    def owning_project(self) -> str:
        """The project new zones belong to."""
        if self.project_id is None:
            raise BadRequest("A project ID must be specified when not using a project "
                             "scoped token.")
        return self.project_id
