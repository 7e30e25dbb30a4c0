"""A project's sudo rule, as the sudo LDAP schema stores it (sudoers.ldap(5), ``sudoRole``).

One rule is one ``sudoRole`` entry ``cn=<name>,ou=sudoers,cn=<project>,ou=projects,<base>``:

=================  ================  =====================================================
field              attribute         what Labs accepts
=================  ================  =====================================================
``name``           ``cn``            ``^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$``
``users``          ``sudoUser``      ``ALL``, a shell name, or the project's group
                                     ``%project-<label>``
``hosts``          ``sudoHost``      ``ALL`` (the default), a host name, an IP address or
                                     network
``commands``       ``sudoCommand``   ``ALL``, or an absolute path with plain arguments;
                                     ``!`` in front negates
``options``        ``sudoOption``    ``OPTIONS`` below, and ``env_keep+=`` / ``env_keep-=``
                                     one variable name
``run_as_users``   ``sudoRunAsUser`` ``ALL``, a shell name or the project's group
``run_as_groups``  ``sudoRunAsGroup`` ``ALL`` or a group name
``order``          ``sudoOrder``     0 to 1000000; higher wins, as in sudoers.ldap(5)
=================  ================  =====================================================

sudoers.ldap(5) accepts much more (netgroups, ``#uid``, wildcards, digests, any
sudoers default). Labs keeps to the part whose meaning is plain and whose text needs no
quoting in either LDAP or sudoers(5); anything else is a 400 that says what is allowed.
Every value is checked here, before it reaches a query, an LDAP DN or filter, or a
sudoers file.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labs.common.errors import BadRequest

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SHELL_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
GROUP_NAME = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,62})(\.[a-z0-9]([a-z0-9-]{0,62}))*")
#: An absolute path: steps of these characters, none empty or starting with '.' (so no
#: '..'); one '/' between steps, so the pattern cannot backtrack.
_STEP = r"[A-Za-z0-9_+-][A-Za-z0-9_.+-]*"
PATH = re.compile(rf"/(?:{_STEP}(?:/{_STEP})*/?)?")
ARGUMENT = re.compile(r'[A-Za-z0-9_./@%+-]+|""')
ENV_VAR = re.compile(r"env_keep[+-]=[A-Z_][A-Z0-9_]{0,63}")
#: The sudoers options a rule may carry, each with its ``!`` opposite.
OPTIONS = frozenset(
    f"{neg}{name}" for name in ("authenticate", "setenv", "noexec", "log_input", "log_output")
    for neg in ("", "!"))
MAX_ORDER = 1_000_000
MAX_VALUES = 64
MAX_COMMAND = 1024

COMMAND_HELP = ("A sudo command is ALL, or an absolute path (such as /usr/bin/systemctl) "
                "followed by arguments made of letters, digits and _ . / @ % + - (or the "
                'single argument "" for none), separated by single spaces, with an optional '
                "leading ! to forbid it; relative paths, '..', shell characters, quotes and "
                "control characters are refused.")


@dataclass(frozen=True)
class SudoRule:
    """One ``sudoRole``: who (``users``) may run what (``commands``) where (``hosts``)
    as whom (``run_as_*``), with which ``options``."""

    name: str
    users: tuple[str, ...]
    commands: tuple[str, ...]
    hosts: tuple[str, ...] = ("ALL",)
    options: tuple[str, ...] = ()
    run_as_users: tuple[str, ...] = ()
    run_as_groups: tuple[str, ...] = ()
    order: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "users": list(self.users), "hosts": list(self.hosts),
                "commands": list(self.commands), "options": list(self.options),
                "run_as_users": list(self.run_as_users),
                "run_as_groups": list(self.run_as_groups), "order": self.order}


FIELDS = ("name", "users", "hosts", "commands", "options", "run_as_users", "run_as_groups",
          "order")


def project_group(label: str) -> str:
    """The posix group of the project with this DNS label (``Project.label``)."""
    return f"project-{label}"


def default_rules(label: str) -> list[SudoRule]:
    """What every new project (of this DNS label) starts with: its members may run
    anything as anyone, and as any member of the project, without a password."""
    group = f"%{project_group(label)}"
    return [
        SudoRule(name="default-sudo", users=(group,), commands=("ALL",),
                 options=("!authenticate",), run_as_users=("ALL",)),
        SudoRule(name="default-sudo-as", users=(group,), commands=("ALL",),
                 options=("!authenticate",), run_as_users=(group,)),
    ]


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BadRequest("Invalid sudo rule name: use 1-64 letters, digits, '_', '.' and '-', "
                         "starting with a letter or digit.")
    return name


def parse_rule(body: Mapping[str, Any], group: str) -> SudoRule:
    """A rule from a request body (every field checked); ``group`` is the project's posix
    group, the only group its rules may name."""
    unknown = set(body) - set(FIELDS)
    if unknown:
        raise BadRequest(f"Unknown sudo rule fields: {', '.join(sorted(unknown))}; a rule has "
                         f"{', '.join(FIELDS)}.")
    if "users" not in body or "commands" not in body:
        raise BadRequest("A sudo rule needs users and commands.")
    options = _values(body, "options", _option)
    clash = {o for o in options if f"!{o}" in options}
    if clash:
        raise BadRequest(f"A sudo rule cannot have both {min(clash)} and !{min(clash)}.")
    order = body.get("order", 0)
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= MAX_ORDER:
        raise BadRequest(f"A sudo rule's order is a whole number from 0 to {MAX_ORDER}.")
    return SudoRule(
        name=check_name(body.get("name")),
        users=_values(body, "users", lambda v: _person(v, group), required=True),
        hosts=_values(body, "hosts", _host, default=("ALL",), required=True),
        commands=_values(body, "commands", _command, required=True),
        options=options,
        run_as_users=_values(body, "run_as_users", lambda v: _person(v, group)),
        run_as_groups=_values(body, "run_as_groups", _group),
        order=order)


def _values(body: Mapping[str, Any], key: str, check: Any, *, default: tuple[str, ...] = (),
            required: bool = False) -> tuple[str, ...]:
    values = body.get(key, list(default))
    if not isinstance(values, list) or len(values) > MAX_VALUES:
        raise BadRequest(f"A sudo rule's {key} is a list of at most {MAX_VALUES} strings.")
    if required and not values:
        raise BadRequest(f"A sudo rule's {key} cannot be empty.")
    out: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise BadRequest(f"A sudo rule's {key} is a list of strings.")
        checked = check(value)
        if checked not in out:
            out.append(checked)
    return tuple(out)


def _person(value: str, group: str) -> str:
    if value == "ALL" or SHELL_NAME.fullmatch(value) or value == f"%{group}":
        return value
    raise BadRequest(f"Invalid sudo user {_shown(value)}: use ALL, a shell name, or the "
                     f"project's group %{group}.")


def _group(value: str) -> str:
    if value == "ALL" or GROUP_NAME.fullmatch(value):
        return value
    raise BadRequest(f"Invalid sudo run-as group {_shown(value)}: use ALL or a group name "
                     "(lowercase letters, digits, '_', '.' and '-').")


def _host(value: str) -> str:
    if value == "ALL" or (len(value) <= 253 and HOST_NAME.fullmatch(value)):
        return value
    try:
        return str(ipaddress.ip_network(value, strict=False)) if "/" in value else str(
            ipaddress.ip_address(value))
    except ValueError:
        raise BadRequest(f"Invalid sudo host {_shown(value)}: use ALL, a lowercase host "
                         "name, an IP address or a network.") from None


def _command(value: str) -> str:
    if value == "ALL" or value == "!ALL":
        return value
    body = value[1:] if value.startswith("!") else value
    words = body.split(" ")
    if (len(value) > MAX_COMMAND or not PATH.fullmatch(words[0])
            or not all(ARGUMENT.fullmatch(w) for w in words[1:])
            or ('""' in words[1:] and len(words) != 2)):
        raise BadRequest(f"Invalid sudo command {_shown(value)}. {COMMAND_HELP}")
    return value


def _option(value: str) -> str:
    if value in OPTIONS or ENV_VAR.fullmatch(value):
        return value
    raise BadRequest(f"Unknown sudo option {_shown(value)}: use one of "
                     f"{', '.join(sorted(OPTIONS))}, or env_keep+=NAME / env_keep-=NAME with "
                     "one variable name in capitals.")


def _shown(value: str) -> str:
    """A refused value as an error message may quote it: short, control characters
    escaped."""
    return repr(value[:80])
