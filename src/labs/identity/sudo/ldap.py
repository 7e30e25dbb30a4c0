"""The sudo rules in the directory, where sudo's own LDAP support reads them.

Layout under the base DN (sudoers.ldap(5); LABS.md "Accounts"):

- ``cn=<label>,ou=projects``: the project (``organizationalRole``: a named entry of
  core.schema that needs nothing but its ``cn``), made with the project's first rule;
- ``ou=sudoers,cn=<label>,ou=projects``: an ``organizationalUnit``, the base a VM of
  the project gives sudo as ``SUDOERS_BASE``;
- ``cn=<rule>,ou=sudoers,cn=<label>,ou=projects``: one ``sudoRole`` per rule, with
  ``sudoUser``, ``sudoHost``, ``sudoCommand``, ``sudoOption``, ``sudoRunAsUser``,
  ``sudoRunAsGroup`` (each as many values as the rule has, none when empty, in the
  rule's order) and ``sudoOrder``.

The project is named by its label (its DNS label, the name its posix group
``project-<label>`` bears), read from the identity database in the request's unit of
work. Rule names reach DNs only through :func:`~labs.directory.connection.rdn` and
filters never carry them. A rule's ``cn`` matches without regard to case in LDAP, so
``Web`` and ``web`` are one name here (a ``Conflict``).

Every write is undone if the request's SQL transaction rolls back (see
:mod:`labs.directory.undo`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any

from ldap3 import BASE, LEVEL, SUBTREE
from ldap3.core import exceptions as ldap_errors
from ldap3.utils.dn import parse_dn
from sqlalchemy.orm import Session

from labs.common.errors import Conflict, NotFound
from labs.directory.connection import Directory, Entry, rdn
from labs.directory.undo import UndoJournal
from labs.identity import models
from labs.identity.sudo.rules import SudoRule
from labs.identity.sudo.store import SudoRuleStore

#: SudoRule's multi-valued fields and their sudoers.ldap(5) attributes.
FIELDS = (("users", "sudoUser"), ("hosts", "sudoHost"), ("commands", "sudoCommand"),
          ("options", "sudoOption"), ("run_as_users", "sudoRunAsUser"),
          ("run_as_groups", "sudoRunAsGroup"))
RULE_ATTRS = ["cn", "sudoOrder", *(attr for _, attr in FIELDS)]


def rule_attributes(rule: SudoRule) -> dict[str, Any]:
    attributes: dict[str, Any] = {"objectClass": ["top", "sudoRole"], "cn": rule.name,
                                  "sudoOrder": str(rule.order)}
    for field, attr in FIELDS:
        values = getattr(rule, field)
        if values:
            attributes[attr] = list(values)
    return attributes


def rule_of(entry: Entry) -> SudoRule:
    values = {field: tuple(entry.attributes.get(attr.lower(), [])) for field, attr in FIELDS}
    return SudoRule(name=entry.first("cn") or "", order=int(entry.first("sudoOrder") or 0),
                    **values)


class LdapSudoRuleStore(SudoRuleStore):
    def __init__(self, directory: Directory, journal: UndoJournal | None = None) -> None:
        self.directory = directory
        self.journal = journal or UndoJournal(directory)
        self.projects = f"ou=projects,{directory.base_dn}"

    # -- names ---------------------------------------------------------------
    def project_dn(self, label: str) -> str:
        return f"{rdn('cn', label)},{self.projects}"

    def sudoers_dn(self, label: str) -> str:
        return f"ou=sudoers,{self.project_dn(label)}"

    def rule_dn(self, label: str, name: str) -> str:
        return f"{rdn('cn', name)},{self.sudoers_dn(label)}"

    @staticmethod
    def _label(tx: Session, project_id: str) -> str | None:
        project = tx.get(models.Project, project_id)
        return None if project is None else project.label

    def _known_label(self, tx: Session, project_id: str, name: str) -> str:
        label = self._label(tx, project_id)
        if label is None:
            raise NotFound(f"Could not find sudo rule: {name}.")
        return label

    # -- reads ---------------------------------------------------------------
    def list_rules(self, tx: Session, project_id: str) -> list[SudoRule]:
        label = self._label(tx, project_id)
        if label is None:
            return []
        entries = self.directory.search(self.sudoers_dn(label), "(objectClass=sudoRole)",
                                        RULE_ATTRS, scope=LEVEL)
        return sorted((rule_of(e) for e in entries), key=lambda r: r.name)

    def _read(self, label: str, name: str) -> SudoRule:
        found = self.directory.search(self.rule_dn(label, name), "(objectClass=sudoRole)",
                                      RULE_ATTRS, scope=BASE)
        if not found:
            raise NotFound(f"Could not find sudo rule: {name}.")
        return rule_of(found[0])

    def get_rule(self, tx: Session, project_id: str, name: str) -> SudoRule:
        return self._read(self._known_label(tx, project_id, name), name)

    # -- writes --------------------------------------------------------------
    def _write(self, tx: Session, step: str, do: Callable[[], None],
               undo: Callable[[], None]) -> None:
        self.journal.write(tx, step, do, undo)

    def _ensure_containers(self, label: str) -> None:
        """``ou=projects``, ``cn=<label>,ou=projects`` and its ``ou=sudoers`` (kept while
        the project is)."""
        for dn, attributes in (
                (self.projects, {"objectClass": ["top", "organizationalUnit"],
                                 "ou": "projects"}),
                (self.project_dn(label), {"objectClass": ["top", "organizationalRole"],
                                          "cn": label,
                                          "description": f"Labs project {label}"}),
                (self.sudoers_dn(label), {"objectClass": ["top", "organizationalUnit"],
                                          "ou": "sudoers"})):
            if self.directory.read(dn, ["objectClass"]) is None:
                with suppress(ldap_errors.LDAPEntryAlreadyExistsResult):
                    self.directory.add(dn, attributes)

    def _add_rule(self, tx: Session, label: str, rule: SudoRule) -> None:
        dn = self.rule_dn(label, rule.name)
        attributes = rule_attributes(rule)

        def add() -> None:
            try:
                self.directory.add(dn, attributes)
            except ldap_errors.LDAPEntryAlreadyExistsResult:
                raise Conflict(f"Conflict occurred attempting to store sudo rule - the "
                               f"project has a rule named {rule.name!r}: duplicate "
                               "entry.") from None
        self._write(tx, "create sudo rule", add, lambda: self._delete_quietly(dn))

    def _remove_rule(self, tx: Session, label: str, old: SudoRule) -> None:
        dn = self.rule_dn(label, old.name)
        self._write(tx, "delete sudo rule", lambda: self._delete_quietly(dn),
                    lambda: self._restore(dn, rule_attributes(old)))

    def _delete_quietly(self, dn: str) -> None:
        with suppress(ldap_errors.LDAPNoSuchObjectResult):
            self.directory.delete(dn)

    def _restore(self, dn: str, attributes: dict[str, Any]) -> None:
        with suppress(ldap_errors.LDAPEntryAlreadyExistsResult):
            self.directory.add(dn, attributes)

    def create_rule(self, tx: Session, project_id: str, rule: SudoRule) -> SudoRule:
        label = self._known_label(tx, project_id, rule.name)
        self._ensure_containers(label)
        self._add_rule(tx, label, rule)
        return rule

    def replace_rule(self, tx: Session, project_id: str, name: str, rule: SudoRule) -> SudoRule:
        label = self._known_label(tx, project_id, name)
        old = self._read(label, name)
        if rule.name.lower() == name.lower():
            # the same entry: out, then in again (a change of case renames its RDN)
            self._remove_rule(tx, label, old)
            self._add_rule(tx, label, rule)
        else:
            # the new name first: a clash leaves the old rule where it was
            self._add_rule(tx, label, rule)
            self._remove_rule(tx, label, old)
        return rule

    def delete_rule(self, tx: Session, project_id: str, name: str) -> None:
        label = self._known_label(tx, project_id, name)
        self._remove_rule(tx, label, self._read(label, name))

    def delete_project_rules(self, tx: Session, project_id: str) -> None:
        """The project's whole ``cn=<label>,ou=projects`` subtree, leaves first."""
        label = self._label(tx, project_id)
        if label is None:
            return
        entries = self.directory.search(self.project_dn(label), "(objectClass=*)", ["*"],
                                        scope=SUBTREE)
        # deeper DNs have more components: delete them first, restore them last
        entries.sort(key=lambda e: len(parse_dn(e.dn)), reverse=True)

        def delete_all() -> None:
            for entry in entries:
                self._delete_quietly(entry.dn)

        def restore_all() -> None:
            for entry in reversed(entries):
                self._restore(entry.dn, entry.attributes)
        self._write(tx, "delete project's sudo rules", delete_all, restore_all)
