"""The directory's sudo rule store keeps the store contract against a real slapd, and
writes sudoers.ldap(5) entries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from labs.common.db import Database, upgrade
from labs.common.errors import NotFound
from labs.directory.connection import Directory
from labs.identity import models
from labs.identity.sudo.ldap import LdapSudoRuleStore
from labs.identity.sudo.rules import SudoRule, default_rules
from labs.identity.sudo.store import SudoRuleStore
from tests.identity.conftest import ldap_directory  # noqa: F401
from tests.identity.sudo_store_contract import *  # noqa: F403
from tests.identity.sudo_store_contract import with_projects


@pytest.fixture
def store(ldap_directory: Directory) -> SudoRuleStore:  # noqa: F811
    return LdapSudoRuleStore(ldap_directory)


@pytest.fixture
def tx(tmp_path: Path) -> Iterator[Session]:
    yield from with_projects(f"sqlite:///{tmp_path / 'labs.db'}")


def test_rules_are_sudo_roles_under_the_project(store: LdapSudoRuleStore,
                                                ldap_directory: Directory,  # noqa: F811
                                                tx: Session) -> None:
    for rule in default_rules("p1"):
        store.create_rule(tx, "p1", rule)
    base = ldap_directory.base_dn
    entry = ldap_directory.read(f"cn=default-sudo-as,ou=sudoers,cn=p1,ou=projects,{base}",
                                ["*"])
    assert entry is not None
    assert set(entry.attributes["objectclass"]) == {"top", "sudoRole"}
    assert entry.attributes["sudouser"] == ["%project-p1"]
    assert entry.attributes["sudorunasuser"] == ["%project-p1"]
    assert entry.attributes["sudooption"] == ["!authenticate"]
    store.delete_project_rules(tx, "p1")
    assert ldap_directory.read(f"cn=p1,ou=projects,{base}", ["cn"]) is None


def test_a_rolled_back_write_is_undone(ldap_directory: Directory,  # noqa: F811
                                       tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'labs.db'}")
    upgrade(db, "identity")
    store = LdapSudoRuleStore(ldap_directory)
    with db.transaction() as session:
        session.add(models.Domain(id="default", name="Default"))
        session.flush()
        session.add(models.Project(id="p1", name="p1", label="p1", domain_id="default"))
    rule = default_rules("p1")[0]
    with pytest.raises(RuntimeError), db.transaction() as session:
        store.create_rule(session, "p1", rule)
        raise RuntimeError("a later step fails")
    with db.transaction() as session:
        assert store.list_rules(session, "p1") == []
        store.create_rule(session, "p1", rule)
    with pytest.raises(RuntimeError), db.transaction() as session:
        store.delete_project_rules(session, "p1")
        assert store.list_rules(session, "p1") == []
        raise RuntimeError("a later step fails")
    with db.reading() as session:
        assert store.list_rules(session, "p1") == [rule]
    db.dispose()


@pytest.mark.parametrize("name", ["*)(uid=*", "x)(|(cn=*", "\\2a", ",ou=groups", "*"])
def test_odd_names_are_stored_literally(store: LdapSudoRuleStore, tx: Session,
                                        name: str) -> None:
    """The service refuses such names (``check_name``); the store, if given one anyway,
    keeps it as one literal RDN and finds nothing else by it."""
    plain = SudoRule(name="a", users=("ALL",), commands=("ALL",))
    store.create_rule(tx, "p1", plain)
    with pytest.raises(NotFound):
        store.get_rule(tx, "p1", name)
    odd = SudoRule(name=name, users=("ALL",), commands=("ALL",))
    store.create_rule(tx, "p1", odd)
    assert store.get_rule(tx, "p1", name) == odd
    assert store.list_rules(tx, "p1") == sorted([plain, odd], key=lambda r: r.name)
    store.delete_rule(tx, "p1", name)
    assert store.list_rules(tx, "p1") == [plain]
