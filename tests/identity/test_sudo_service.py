"""A project's sudo rules through the service: the defaults come and go with the project,
in its transaction; changes are checked whole."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from labs.common.errors import BadRequest, Conflict, NotFound
from labs.identity import models
from labs.identity.service import IdentityService
from labs.identity.sudo.service import SudoService


@pytest.fixture
def sudo(identity: IdentityService) -> SudoService:
    """The site's: rules in SQL, or in the directory with its backend."""
    return identity.sudo


def test_a_new_project_has_the_default_rules(identity: IdentityService,
                                             sudo: SudoService) -> None:
    project = identity.resources.create_project({"name": "p1"}, "default")
    rules = sudo.list_rules(project.id)
    assert [(r.name, r.users, r.run_as_users) for r in rules] == [
        ("default-sudo", ("%project-p1",), ("ALL",)),
        ("default-sudo-as", ("%project-p1",), ("%project-p1",))]
    assert "%project-p1 ALL = (%project-p1) NOPASSWD: ALL" in sudo.sudoers(project.id)


def test_deleting_a_project_deletes_its_rules(identity: IdentityService,
                                              sudo: SudoService) -> None:
    project = identity.resources.create_project({"name": "p1"}, "default")
    other = identity.resources.create_project({"name": "p2"}, "default")
    sudo.create_rule(project.id, {"name": "extra", "users": ["ann"], "commands": ["ALL"]})
    identity.resources.delete_project(project.id)
    assert [r.name for r in sudo.list_rules(other.id)] == ["default-sudo", "default-sudo-as"]
    with identity.store.read() as tx:
        assert project.id not in tx.scalars(sa.select(models.SudoRule.project_id)).all()
    with pytest.raises(NotFound, match="project"):
        sudo.list_rules(project.id)


def test_a_project_that_fails_leaves_no_rules(identity: IdentityService) -> None:
    identity.resources.create_project({"name": "p1"}, "default")
    with pytest.raises(Conflict):
        identity.resources.create_project({"name": "p1"}, "default")
    with identity.store.read() as tx:
        projects = set(tx.scalars(sa.select(models.Project.id)))
        assert set(tx.scalars(sa.select(models.SudoRule.project_id))) <= projects


def test_create_update_delete(identity: IdentityService, sudo: SudoService) -> None:
    pid = identity.resources.create_project({"name": "p1"}, "default").id
    made = sudo.create_rule(pid, {"name": "web", "users": ["%project-p1"],
                                  "commands": ["/usr/bin/systemctl restart nginx"]})
    assert sudo.get_rule(pid, "web") == made
    changed = sudo.update_rule(pid, "web", {"options": ["!authenticate"], "name": "web2"})
    assert (changed.name, changed.commands, changed.options) == (
        "web2", made.commands, ("!authenticate",))
    with pytest.raises(NotFound):
        sudo.get_rule(pid, "web")
    with pytest.raises(BadRequest, match="absolute path"):
        sudo.update_rule(pid, "web2", {"commands": ["rm -rf /"]})
    with pytest.raises(BadRequest, match="Nothing to change"):
        sudo.update_rule(pid, "web2", {})
    with pytest.raises(Conflict):
        sudo.update_rule(pid, "web2", {"name": "default-sudo"})
    assert sudo.get_rule(pid, "web2") == changed
    sudo.delete_rule(pid, "web2")
    assert [r.name for r in sudo.list_rules(pid)] == ["default-sudo", "default-sudo-as"]


def test_unknown_projects_and_bad_names(sudo: SudoService) -> None:
    for call in (lambda: sudo.list_rules("nope"), lambda: sudo.get_rule("nope", "x"),
                 lambda: sudo.delete_rule("nope", "x"), lambda: sudo.sudoers("nope"),
                 lambda: sudo.create_rule("nope", {"name": "x"})):
        with pytest.raises(NotFound, match="project"):
            call()
    with pytest.raises(BadRequest, match="rule name"):
        sudo.get_rule("nope", "*)(cn=*")


def test_the_group_is_named_by_the_label(identity: IdentityService, sudo: SudoService) -> None:
    """Project names are free; the group, the rules and the sudoers file use the label."""
    project = identity.resources.create_project({"name": "Web Team\nALL ALL=(ALL) ALL"},
                                                "default")
    group = f"%project-{project.label}"
    assert [r.users for r in sudo.list_rules(project.id)] == [(group,), (group,)]
    text = sudo.sudoers(project.id)
    assert text.count("\n") == 5 and "Web Team" not in text
    made = sudo.create_rule(project.id, {"name": "x", "users": [group], "commands": ["ALL"]})
    assert made.users == (group,)
