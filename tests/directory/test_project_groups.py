"""Each project's posix group in a real slapd, in step with its members: seen by the
``ldapsearch`` of OpenLDAP's tools, as LABS.md "Accounts" has it."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ldap3 import MODIFY_ADD

from labs.common.db import Database
from labs.common.errors import BadRequest
from labs.directory.connection import Directory
from labs.directory.slapd import DirectoryAddress
from labs.identity.assignments import Grant
from labs.identity.backends.ldap import LdapIdentityBackend
from labs.identity.bootstrap import bootstrap
from labs.identity.config import IdentityOptions
from labs.identity.project_groups import DirectoryProjectGroups
from labs.identity.resources import ProjectFilter
from labs.identity.service import IdentityService
from labs.wiring.identity import new_identity
from tests.identity.conftest import subtree_directory

INJECTIONS = ("*)(uid=*", "x)(|(cn=*", "\\2a", ",ou=groups")


@pytest.fixture
def directory(private_slapd: DirectoryAddress) -> Iterator[Directory]:
    directory = subtree_directory(private_slapd)
    yield directory
    directory.close()


@pytest.fixture
def identity(directory: Directory, tmp_path: Path) -> Iterator[IdentityService]:
    backend = LdapIdentityBackend(directory, password_hash_rounds=4)
    service = new_identity(Database(f"sqlite:///{tmp_path / 'labs.db'}"),
                           IdentityOptions(password_hash_rounds=4), tmp_path, backend)
    service.prepare()
    bootstrap(service, "http://testserver", tmp_path, admin_password="secret")
    yield service
    service.store.db.dispose()


def ldapsearch(address: DirectoryAddress, base: str, search: str,
               *attrs: str) -> dict[str, dict[str, list[str]]]:
    """OpenLDAP's ldapsearch, bound as the reader: DN -> attribute -> values."""
    out = subprocess.run(
        ["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", address.url,
         "-D", address.reader_dn, "-w", address.reader_password, "-b", base, search,
         *attrs], capture_output=True, text=True, timeout=30, check=True).stdout
    entries: dict[str, dict[str, list[str]]] = {}
    for block in out.strip().split("\n\n"):
        if not block.strip():
            continue
        lines = block.splitlines()
        dn = lines[0].split(": ", 1)[1]
        entries[dn] = {}
        for line in lines[1:]:
            name, _, value = line.partition(": ")
            entries[dn].setdefault(name, []).append(value)
    return entries


def within_a_second(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 1.0
    while not check():
        assert time.monotonic() < deadline, "the directory did not follow within a second"
        time.sleep(0.05)


def role(identity: IdentityService, name: str) -> str:
    return identity.assignments.list_roles(name)[0].id


def grant(identity: IdentityService, actor: str, actor_id: str, project_id: str,
          role_name: str = "member") -> Grant:
    made = Grant(role(identity, role_name), actor, actor_id, "project", project_id)
    identity.assignments.create_grant(made)
    return made


def group_of(directory: Directory, label: str) -> dict[str, list[str]]:
    entry = directory.read(f"cn=project-{label},ou=groups,{directory.base_dn}", ["*"])
    assert entry is not None, f"no group for {label}"
    return entry.attributes


def test_members_direct_and_through_groups(identity: IdentityService, directory: Directory,
                                           private_slapd: DirectoryAddress) -> None:
    project = identity.resources.create_project({"name": "Tempest-Proj.1"}, "default")
    assert project.label == "tempest-proj-1"
    gid = str(identity.project_gid(project.id))
    base = directory.base_dn
    dn = f"cn=project-tempest-proj-1,ou=groups,{base}"
    # a project without members: its group holds its own DN, no memberUid
    found = ldapsearch(private_slapd, base, "(cn=project-tempest-proj-1)")
    assert set(found[dn]["objectClass"]) == {"top", "groupOfNames", "posixGroup"}
    assert (found[dn]["gidNumber"], found[dn]["member"]) == ([gid], [dn])
    assert "memberUid" not in found[dn]

    ann = identity.users.create_user({"name": "Ann Example", "shell_name": "ann"}, "default")
    bob = identity.users.create_user({"name": "bob"}, "default")
    direct = grant(identity, "user", ann.id, project.id)
    ann_dn = f"uid=ann,ou=people,{base}"
    within_a_second(lambda: ldapsearch(private_slapd, base, "(cn=project-tempest-proj-1)")
                    [dn].get("memberUid") == ["ann"])
    assert ldapsearch(private_slapd, base, f"(member={ann_dn})", "cn") == {
        dn: {"cn": ["project-tempest-proj-1"]}}

    team = identity.users.create_group({"name": "team"}, "default")
    grant(identity, "group", team.id, project.id, "projectadmin")
    identity.users.add_user_to_group(bob.id, team.id)
    within_a_second(lambda: sorted(group_of(directory, "tempest-proj-1")["memberuid"])
                    == ["ann", "bob"])
    identity.users.remove_user_from_group(bob.id, team.id)
    within_a_second(lambda: group_of(directory, "tempest-proj-1")["memberuid"] == ["ann"])

    identity.users.update_user(ann.id, {"enabled": False})
    within_a_second(lambda: "memberuid" not in group_of(directory, "tempest-proj-1"))
    identity.users.update_user(ann.id, {"enabled": True})
    within_a_second(lambda: group_of(directory, "tempest-proj-1").get("memberuid") == ["ann"])
    identity.assignments.delete_grant(direct)
    within_a_second(lambda: group_of(directory, "tempest-proj-1")["member"] == [dn])
    identity.users.add_user_to_group(ann.id, team.id)
    within_a_second(lambda: group_of(directory, "tempest-proj-1").get("memberuid") == ["ann"])
    # a disabled project has no members (its VMs let nobody in)
    identity.resources.update_project(project.id, {"enabled": False})
    within_a_second(lambda: "memberuid" not in group_of(directory, "tempest-proj-1"))
    identity.resources.update_project(project.id, {"enabled": True})
    within_a_second(lambda: group_of(directory, "tempest-proj-1").get("memberuid") == ["ann"])
    identity.users.delete_user(ann.id)
    within_a_second(lambda: "memberuid" not in group_of(directory, "tempest-proj-1"))


def test_deleting_a_project_removes_its_group_and_sudo_rules(
        identity: IdentityService, directory: Directory,
        private_slapd: DirectoryAddress) -> None:
    project = identity.resources.create_project({"name": "web"}, "default")
    base = directory.base_dn
    rules = ldapsearch(private_slapd, f"ou=sudoers,cn=web,ou=projects,{base}",
                       "(objectClass=sudoRole)")
    default = rules[f"cn=default-sudo,ou=sudoers,cn=web,ou=projects,{base}"]
    assert default["sudoUser"] == ["%project-web"]
    assert (default["sudoHost"], default["sudoCommand"]) == (["ALL"], ["ALL"])
    assert default["sudoOption"] == ["!authenticate"]
    as_group = rules[f"cn=default-sudo-as,ou=sudoers,cn=web,ou=projects,{base}"]
    assert as_group["sudoRunAsUser"] == ["%project-web"]
    identity.resources.update_project(project.id, {"enabled": False})
    identity.resources.delete_project(project.id)
    assert ldapsearch(private_slapd, base, "(|(cn=project-web)(cn=web))") == {}
    left = ldapsearch(private_slapd, f"ou=projects,{base}", "(objectClass=sudoRole)")
    assert left and not any("cn=web," in dn for dn in left)  # bootstrap's projects keep theirs


def test_injection_strings_stay_literal(identity: IdentityService, directory: Directory,
                                        private_slapd: DirectoryAddress) -> None:
    base = directory.base_dn
    projects = [identity.resources.create_project({"name": name}, "default")
                for name in INJECTIONS]
    other = identity.resources.create_project({"name": "other"}, "default")
    for index, (name, project) in enumerate(zip(INJECTIONS, projects, strict=True)):
        user = identity.users.create_user({"name": name, "shell_name": f"u{index}"},
                                          "default")
        grant(identity, "user", user.id, project.id)
        with pytest.raises(BadRequest):
            identity.sudo.create_rule(project.id, {"name": name, "users": ["ALL"],
                                                   "commands": ["ALL"]})
    for index, project in enumerate(projects):
        assert group_of(directory, project.label)["memberuid"] == [f"u{index}"]
    # nothing reached another project's group, and every group is one entry
    assert "memberuid" not in group_of(directory, other.label)
    groups = ldapsearch(private_slapd, f"ou=groups,{base}", "(objectClass=posixGroup)", "cn")
    labels = {p.label for p in identity.resources.list_projects(ProjectFilter())}
    assert sorted(groups) == sorted(f"cn=project-{label},ou=groups,{base}" for label in labels)
    assert identity.users.find_user_by_shell_name("u0").name == INJECTIONS[0]
    for name in INJECTIONS:
        with pytest.raises(BadRequest):
            identity.users.create_user({"name": "x", "shell_name": name}, "default")


def test_reconcile_repairs_groups_edited_behind_labs_back(
        identity: IdentityService, directory: Directory,
        caplog: pytest.LogCaptureFixture) -> None:
    groups = identity.membership
    assert isinstance(groups, DirectoryProjectGroups)
    project = identity.resources.create_project({"name": "web"}, "default")
    gone = identity.resources.create_project({"name": "db"}, "default")
    ann = identity.users.create_user({"name": "ann"}, "default")
    grant(identity, "user", ann.id, project.id)
    assert groups.reconcile() == []
    base = directory.base_dn
    directory.modify(f"cn=project-web,ou=groups,{base}",
                     {"memberUid": [(MODIFY_ADD, ["mallory"])]})
    directory.delete(f"cn=project-db,ou=groups,{base}")
    directory.add(f"cn=project-ghost,ou=groups,{base}", {
        "objectClass": ["groupOfNames", "posixGroup"], "cn": "project-ghost",
        "gidNumber": "4242", "member": f"uid=ann,ou=people,{base}"})
    with caplog.at_level(logging.WARNING, "labs.identity.project_groups"):
        assert sorted(groups.reconcile()) == ["project-db", "project-ghost", "project-web"]
    assert "repaired the posix group project-ghost" in caplog.text
    assert group_of(directory, "web")["memberuid"] == ["ann"]
    assert "memberuid" not in group_of(directory, gone.label)
    assert directory.read(f"cn=project-ghost,ou=groups,{base}", ["cn"]) is None
    assert groups.reconcile() == []
