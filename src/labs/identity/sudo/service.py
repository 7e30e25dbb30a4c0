"""A project's sudo rules: read, created, changed and removed in the identity database's
unit of work, with the project looked up in the same one."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from labs.common.errors import BadRequest, Conflict, NotFound
from labs.identity import models
from labs.identity.store import IdentityStore
from labs.identity.sudo.rules import SudoRule, check_name, parse_rule, project_group
from labs.identity.sudo.store import SudoRuleStore
from labs.identity.sudo.sudoers import render_sudoers

#: The most a project's rules may weigh as a sudoers file: what a VM's access document
#: carries (labs.network.agent.metadata.access.MAX_SUDOERS), and a bound on what one
#: project admin can store.
MAX_SUDOERS = 64 * 1024


def _check_size(label: str, rules: list[SudoRule]) -> None:
    size = len(render_sudoers(label, rules).encode())
    if size > MAX_SUDOERS:
        raise Conflict(f"A project's sudo rules are at most {MAX_SUDOERS} bytes as a sudoers "
                       f"file; these would be {size}. Remove or shorten rules first.")


def _project(tx: Session, project_id: str) -> models.Project:
    row = tx.get(models.Project, project_id)
    if row is None:
        raise NotFound(f"Could not find project: {project_id}.")
    return row


class SudoService:
    def __init__(self, identity_store: IdentityStore, store: SudoRuleStore) -> None:
        self.identity = identity_store
        self.store = store

    def list_rules(self, project_id: str) -> list[SudoRule]:
        with self.identity.read() as tx:
            _project(tx, project_id)
            return self.store.list_rules(tx, project_id)

    def get_rule(self, project_id: str, name: str) -> SudoRule:
        check_name(name)
        with self.identity.read() as tx:
            _project(tx, project_id)
            return self.store.get_rule(tx, project_id, name)

    def create_rule(self, project_id: str, body: dict[str, Any]) -> SudoRule:
        with self.identity.write() as tx:
            project = _project(tx, project_id)
            rule = parse_rule(body, project_group(project.label))
            _check_size(project.label, [*self.store.list_rules(tx, project_id), rule])
            return self.store.create_rule(tx, project_id, rule)

    def update_rule(self, project_id: str, name: str, changes: dict[str, Any]) -> SudoRule:
        """Change the fields given (a new ``name`` renames the rule); the whole rule is
        checked again."""
        check_name(name)
        if not changes:
            raise BadRequest("Nothing to change: send at least one sudo rule field.")
        with self.identity.write() as tx:
            project = _project(tx, project_id)
            current = self.store.get_rule(tx, project_id, name)
            rule = parse_rule({**current.to_dict(), **changes}, project_group(project.label))
            _check_size(project.label, [*(r for r in self.store.list_rules(tx, project_id)
                                          if r.name != name), rule])
            return self.store.replace_rule(tx, project_id, name, rule)

    def delete_rule(self, project_id: str, name: str) -> None:
        check_name(name)
        with self.identity.write() as tx:
            _project(tx, project_id)
            self.store.delete_rule(tx, project_id, name)

    def sudoers(self, project_id: str) -> str:
        """The project's rules as a sudoers(5) file."""
        with self.identity.read() as tx:
            project = _project(tx, project_id)
            return render_sudoers(project.label, self.store.list_rules(tx, project_id))
