"""Where a project's sudo rules live: the store interface.

The SQL store keeps them in the identity database; the directory's store will keep
them as ``sudoRole`` entries under ``ou=sudoers,cn=<project>,ou=projects,<base>``.
Both run tests/identity/sudo_store_contract.py unchanged.

Rules every implementation keeps:
- ``tx`` is the request's unit of work (the identity transaction); a SQL store writes
  through it, so a project and its default rules are made, or deleted, together. A store
  elsewhere writes when called and leaves ``tx`` alone.
- Rules are per project: nothing one project's calls do reaches another project's rules,
  and the same name may be used in two projects.
- Reading or changing a rule that the project does not have raises ``NotFound`` naming
  the rule; creating a name the project already has raises ``Conflict``.
- Rules come back as they were stored, ordered by name; the store checks nothing about
  their content (``labs.identity.sudo.rules.parse_rule`` has, before).
- ``delete_project_rules`` of a project without rules does nothing.
- A read-only store raises ``Forbidden`` on every write.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from sqlalchemy.orm import Session

from labs.identity.sudo.rules import SudoRule


class SudoRuleStore(ABC):
    """The sudo rules of each project."""

    @abstractmethod
    def list_rules(self, tx: Session, project_id: str) -> list[SudoRule]:
        """The project's rules, ordered by name (none for an unknown project)."""

    @abstractmethod
    def get_rule(self, tx: Session, project_id: str, name: str) -> SudoRule:
        """The project's rule of this name, or ``NotFound``."""

    @abstractmethod
    def create_rule(self, tx: Session, project_id: str, rule: SudoRule) -> SudoRule:
        """Store a new rule; ``Conflict`` if the project has one of that name."""

    @abstractmethod
    def replace_rule(self, tx: Session, project_id: str, name: str, rule: SudoRule) -> SudoRule:
        """Replace the rule ``name`` by ``rule`` (which may rename it); ``NotFound`` if
        there is no such rule, ``Conflict`` if the new name is another rule's."""

    @abstractmethod
    def delete_rule(self, tx: Session, project_id: str, name: str) -> None:
        """Remove one rule, or ``NotFound``."""

    @abstractmethod
    def delete_project_rules(self, tx: Session, project_id: str) -> None:
        """Remove every rule of the project (the project is being deleted)."""
