"""The sudo rule store contract: every ``SudoRuleStore`` runs these tests unchanged.

A module binds them to a store by defining the fixtures ``store`` (a ``SudoRuleStore``)
and ``tx`` (a unit of work in which the projects ``p1`` and ``p2`` exist: `with_projects`
makes one) and importing the tests: ``from tests.identity.sudo_store_contract import *``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from labs.common.db import Database, upgrade
from labs.common.errors import Conflict, NotFound
from labs.identity import models
from labs.identity.sudo.rules import SudoRule, default_rules
from labs.identity.sudo.store import SudoRuleStore

__all__ = [
    "test_a_rule_comes_back_as_stored",
    "test_absent_rules_are_not_found",
    "test_delete_one_and_all",
    "test_names_are_unique_per_project_only",
    "test_projects_do_not_see_each_others_rules",
    "test_replace_changes_and_renames",
]

def with_projects(db_url: str) -> Iterator[Session]:
    """A unit of work on identity's tables in which the projects ``p1`` and ``p2`` exist
    (the body of a module's ``tx`` fixture)."""
    db = Database(db_url)
    upgrade(db, "identity")
    with db.transaction() as session:
        session.add(models.Domain(id="default", name="Default"))
        session.flush()
        for project in ("p1", "p2"):
            session.add(models.Project(id=project, name=project, label=project,
                                       domain_id="default"))
        session.flush()
        yield session
    db.dispose()


FULL = SudoRule(name="web.restart", users=("%project-p1", "ann"), commands=(
    "/usr/bin/systemctl restart nginx", "!/bin/su"), hosts=("web1", "10.0.0.0/8"),
    options=("!authenticate", "env_keep+=HTTP_PROXY"), run_as_users=("root",),
    run_as_groups=("adm",), order=7)


def test_a_rule_comes_back_as_stored(store: SudoRuleStore, tx: Session) -> None:
    assert store.create_rule(tx, "p1", FULL) == FULL
    assert store.get_rule(tx, "p1", "web.restart") == FULL
    minimal = SudoRule(name="a", users=("ALL",), commands=("ALL",))
    store.create_rule(tx, "p1", minimal)
    assert store.list_rules(tx, "p1") == [minimal, FULL]


def test_absent_rules_are_not_found(store: SudoRuleStore, tx: Session) -> None:
    with pytest.raises(NotFound, match="nope"):
        store.get_rule(tx, "p1", "nope")
    with pytest.raises(NotFound, match="nope"):
        store.replace_rule(tx, "p1", "nope", FULL)
    with pytest.raises(NotFound, match="nope"):
        store.delete_rule(tx, "p1", "nope")
    assert store.list_rules(tx, "no-such-project") == []


def test_names_are_unique_per_project_only(store: SudoRuleStore, tx: Session) -> None:
    store.create_rule(tx, "p1", FULL)
    with pytest.raises(Conflict):
        store.create_rule(tx, "p1", SudoRule(name=FULL.name, users=("ALL",), commands=("ALL",)))
    store.create_rule(tx, "p2", FULL)
    # the store is still usable after a conflict, and kept the first rule
    assert store.get_rule(tx, "p1", FULL.name) == FULL


def test_projects_do_not_see_each_others_rules(store: SudoRuleStore, tx: Session) -> None:
    for rule in default_rules("p1"):
        store.create_rule(tx, "p1", rule)
    assert store.list_rules(tx, "p2") == []
    with pytest.raises(NotFound):
        store.get_rule(tx, "p2", "default-sudo")
    with pytest.raises(NotFound):
        store.delete_rule(tx, "p2", "default-sudo")
    store.delete_project_rules(tx, "p2")
    assert [r.name for r in store.list_rules(tx, "p1")] == ["default-sudo", "default-sudo-as"]


def test_replace_changes_and_renames(store: SudoRuleStore, tx: Session) -> None:
    store.create_rule(tx, "p1", FULL)
    changed = SudoRule(name="web.reload", users=("ann",), commands=("/usr/sbin/nginx -s reload",))
    assert store.replace_rule(tx, "p1", FULL.name, changed) == changed
    assert store.list_rules(tx, "p1") == [changed]
    store.create_rule(tx, "p1", FULL)
    with pytest.raises(Conflict):
        store.replace_rule(tx, "p1", "web.reload", FULL)
    assert {r.name for r in store.list_rules(tx, "p1")} == {"web.reload", "web.restart"}


def test_delete_one_and_all(store: SudoRuleStore, tx: Session) -> None:
    for rule in [*default_rules("p1"), FULL]:
        store.create_rule(tx, "p1", rule)
    store.create_rule(tx, "p2", FULL)
    store.delete_rule(tx, "p1", "default-sudo")
    assert [r.name for r in store.list_rules(tx, "p1")] == ["default-sudo-as", "web.restart"]
    store.delete_project_rules(tx, "p1")
    store.delete_project_rules(tx, "p1")  # nothing left: nothing to do
    assert store.list_rules(tx, "p1") == []
    assert store.list_rules(tx, "p2") == [FULL]
