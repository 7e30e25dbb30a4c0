"""What a sudo rule may hold: the accepted shapes, and a 400 saying what is allowed for
everything else."""

from __future__ import annotations

from typing import Any

import pytest

from labs.common.errors import BadRequest
from labs.identity.sudo.rules import default_rules, parse_rule, project_group

GROUP = "project-p1"


def rule(**fields: Any) -> dict[str, Any]:
    return {"name": "r1", "users": [f"%{GROUP}"], "commands": ["ALL"], **fields}


def test_a_full_rule() -> None:
    parsed = parse_rule(rule(
        users=["%project-p1", "ann", "ALL"], hosts=["web1.p1.example", "10.1.2.3", "10.0.0.0/8"],
        commands=["/usr/bin/systemctl restart nginx", "!/bin/su", '/usr/bin/id ""', "ALL"],
        options=["!authenticate", "setenv", "env_keep+=HTTP_PROXY", "env_keep-=PATH"],
        run_as_users=["root", "%project-p1"], run_as_groups=["adm", "ALL"], order=5), GROUP)
    assert parsed.hosts == ("web1.p1.example", "10.1.2.3", "10.0.0.0/8")
    assert parsed.order == 5
    assert parse_rule(parsed.to_dict(), GROUP) == parsed


def test_defaults_and_duplicates() -> None:
    parsed = parse_rule(rule(commands=["ALL", "ALL"]), GROUP)
    assert parsed.hosts == ("ALL",)
    assert parsed.commands == ("ALL",)
    assert (parsed.options, parsed.run_as_users, parsed.run_as_groups) == ((), (), ())


def test_the_default_rules_are_those_of_labs() -> None:
    sudo, sudo_as = default_rules("p1")
    assert (sudo.name, sudo.users, sudo.commands, sudo.options, sudo.run_as_users) == (
        "default-sudo", ("%project-p1",), ("ALL",), ("!authenticate",), ("ALL",))
    assert (sudo_as.name, sudo_as.run_as_users) == ("default-sudo-as", ("%project-p1",))
    assert project_group("p1") == GROUP
    for each in (sudo, sudo_as):
        assert parse_rule(each.to_dict(), GROUP) == each


REFUSED_COMMANDS = [
    "bin/ls", "ls", "./x", "/bin/../bin/sh", "/bin//sh", "/bin/ls; rm -rf /", "/bin/ls && id",
    "/bin/ls | sh", "/bin/echo `id`", "/bin/echo $(id)", "/bin/echo $HOME", "/bin/ls\nALL",
    "/bin/ls\x00", "/bin/ls\t-l", "/bin/ls  -l", "/bin/ls -l ", "/bin/sh -c 'id'", '/bin/x "a"',
    "/bin/ls > /etc/passwd", "/bin/ls *", "/bin/ls a,b", "/bin/ls a:b", "/bin/ls a=b",
    "/bin/ls \\", "!!/bin/ls", "! /bin/ls", "", "all", "/" + "a" * 1100, "/bin/x \"\" y",
    "sha256:abc /bin/ls", "/bin/ls #x",
]


@pytest.mark.parametrize("command", REFUSED_COMMANDS)
def test_refused_commands_say_what_is_allowed(command: str) -> None:
    with pytest.raises(BadRequest, match="absolute path"):
        parse_rule(rule(commands=[command]), GROUP)


INJECTIONS = ["*)(cn=*", "default-sudo)(|(cn=*", "a,ou=people", "cn=x", "x\x00", "a b",
              "-x", ".hidden", "a" * 65, "", "é"]


@pytest.mark.parametrize("name", INJECTIONS)
def test_names_refuse_injection(name: str) -> None:
    with pytest.raises(BadRequest, match="rule name"):
        parse_rule(rule(name=name), GROUP)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("users", ["%project-other"], "sudo user"),
    ("users", ["%admins"], "sudo user"),
    ("users", ["*)(uid=*"], "sudo user"),
    ("users", ["#0"], "sudo user"),
    ("users", ["+netgroup"], "sudo user"),
    ("users", ["Ann"], "sudo user"),
    ("users", [], "cannot be empty"),
    ("users", "ALL", "list of at most"),
    ("users", [1], "list of strings"),
    ("users", ["ALL"] * 65, "list of at most"),
    ("hosts", ["*"], "sudo host"),
    ("hosts", ["web_1"], "sudo host"),
    ("hosts", ["a" * 254], "sudo host"),
    ("hosts", ["10.0.0.0/33"], "sudo host"),
    ("hosts", [], "cannot be empty"),
    ("commands", [], "cannot be empty"),
    ("options", ["requiretty"], "Unknown sudo option"),
    ("options", ["setenv", "!setenv"], "both setenv and !setenv"),
    ("options", ["env_keep+=lower"], "Unknown sudo option"),
    ("options", ["env_keep+=A B"], "Unknown sudo option"),
    ("options", ["env_keep=FOO"], "Unknown sudo option"),
    ("options", ["env_keep+=\"FOO\""], "Unknown sudo option"),
    ("options", ["!authenticate\n"], "Unknown sudo option"),
    ("run_as_users", ["%wheel"], "sudo user"),
    ("run_as_groups", ["%adm"], "run-as group"),
    ("run_as_groups", ["Adm"], "run-as group"),
    ("order", -1, "order"),
    ("order", 1_000_001, "order"),
    ("order", True, "order"),
    ("order", "1", "order"),
    ("color", "red", "Unknown sudo rule fields"),
])
def test_bad_fields(field: str, value: object, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_rule(rule(**{field: value}), GROUP)


def test_users_and_commands_are_required() -> None:
    with pytest.raises(BadRequest, match="needs users and commands"):
        parse_rule({"name": "x", "users": ["ALL"]}, GROUP)


def test_a_long_refused_value_is_cut_in_the_message() -> None:
    with pytest.raises(BadRequest) as err:
        parse_rule(rule(users=["x;" * 5000]), GROUP)
    assert len(err.value.message) < 400
