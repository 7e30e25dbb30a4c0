"""The sudo rules in the identity database (table ``sudo_rule``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labs.common.db import save_unique
from labs.common.errors import Conflict, NotFound
from labs.identity import models
from labs.identity.sudo.rules import SudoRule
from labs.identity.sudo.store import SudoRuleStore


def _record(row: models.SudoRule) -> SudoRule:
    return SudoRule(name=row.name, users=tuple(row.users), hosts=tuple(row.hosts),
                    commands=tuple(row.commands), options=tuple(row.options),
                    run_as_users=tuple(row.run_as_users),
                    run_as_groups=tuple(row.run_as_groups), order=row.sudo_order)


def _fill(row: models.SudoRule, rule: SudoRule) -> None:
    row.name = rule.name
    row.users, row.hosts = list(rule.users), list(rule.hosts)
    row.commands, row.options = list(rule.commands), list(rule.options)
    row.run_as_users, row.run_as_groups = list(rule.run_as_users), list(rule.run_as_groups)
    row.sudo_order = rule.order


class SqlSudoRuleStore(SudoRuleStore):
    def list_rules(self, tx: Session, project_id: str) -> list[SudoRule]:
        rows = tx.scalars(sa.select(models.SudoRule).where(
            models.SudoRule.project_id == project_id).order_by(models.SudoRule.name))
        return [_record(row) for row in rows]

    def get_rule(self, tx: Session, project_id: str, name: str) -> SudoRule:
        return _record(self._row(tx, project_id, name))

    def create_rule(self, tx: Session, project_id: str, rule: SudoRule) -> SudoRule:
        row = models.SudoRule(project_id=project_id)
        _fill(row, rule)
        save_unique(tx, f"sudo rule - the project has a rule named {rule.name!r}", row)
        return _record(row)

    def replace_rule(self, tx: Session, project_id: str, name: str, rule: SudoRule) -> SudoRule:
        # changed inside the savepoint: begin_nested() flushes what is pending first
        try:
            with tx.begin_nested():
                row = self._row(tx, project_id, name)
                _fill(row, rule)
                tx.flush()
        except IntegrityError:
            raise Conflict(f"Conflict occurred attempting to store sudo rule - the project "
                           f"has a rule named {rule.name!r}: duplicate entry.") from None
        return _record(row)

    def delete_rule(self, tx: Session, project_id: str, name: str) -> None:
        tx.delete(self._row(tx, project_id, name))
        tx.flush()

    def delete_project_rules(self, tx: Session, project_id: str) -> None:
        tx.execute(sa.delete(models.SudoRule).where(models.SudoRule.project_id == project_id))

    @staticmethod
    def _row(tx: Session, project_id: str, name: str) -> models.SudoRule:
        row = tx.get(models.SudoRule, (project_id, name))
        if row is None:
            raise NotFound(f"Could not find sudo rule: {name}.")
        return row
