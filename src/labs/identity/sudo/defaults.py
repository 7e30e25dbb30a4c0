"""Every project's sudo rules begin with the defaults and end with the project."""

from __future__ import annotations

from sqlalchemy.orm import Session

from labs.identity import models
from labs.identity.sudo.rules import default_rules
from labs.identity.sudo.store import SudoRuleStore


class SudoDefaults:
    """Identity's project hook: ``default-sudo`` and ``default-sudo-as`` in the new
    project's transaction, and no rules left behind a deleted project."""

    def __init__(self, store: SudoRuleStore) -> None:
        self.store = store

    def project_created(self, tx: Session, project: models.Project) -> None:
        for rule in default_rules(project.label):
            self.store.create_rule(tx, project.id, rule)

    def project_deleted(self, tx: Session, project: models.Project) -> None:
        self.store.delete_project_rules(tx, project.id)
