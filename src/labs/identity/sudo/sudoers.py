"""A project's sudo rules as a sudoers(5) file, for a VM that reads no directory.

Each rule becomes one user specification, ``users hosts = (run-as users : groups)
TAGS: commands``, in the order sudoers.ldap(5) applies them (``order`` ascending, so
the highest comes last and wins, as the last match does in sudoers(5)). Options with a
sudoers tag become the tag (``!authenticate`` is ``NOPASSWD:``). sudoers(5) has no
per-rule ``env_keep``: it becomes a ``Defaults:<users>`` line, for those users' every
command. The values are those ``parse_rule`` allows, none of which needs quoting.
"""

from __future__ import annotations

from collections.abc import Iterable

from labs.identity.sudo.rules import SudoRule

TAGS = {
    "authenticate": "PASSWD", "!authenticate": "NOPASSWD",
    "setenv": "SETENV", "!setenv": "NOSETENV",
    "noexec": "NOEXEC", "!noexec": "EXEC",
    "log_input": "LOG_INPUT", "!log_input": "NOLOG_INPUT",
    "log_output": "LOG_OUTPUT", "!log_output": "NOLOG_OUTPUT",
}


def render_sudoers(label: str, rules: Iterable[SudoRule]) -> str:
    """The rules of the project with this DNS label (the label, not the free-form name:
    a newline in a name must not end the comment)."""
    lines = [f"# sudo rules of the Labs project {label}"]
    for rule in sorted(rules, key=lambda r: (r.order, r.name)):
        lines.append(f"# {rule.name}")
        users = ", ".join(rule.users)
        for option in rule.options:
            if option.startswith("env_keep"):
                op = "+=" if option[8] == "+" else "-="
                lines.append(f'Defaults:{users} env_keep {op} "{option[10:]}"')
        lines.append(f"{users} {', '.join(rule.hosts)} = {_spec(rule)}")
    return "\n".join(lines) + "\n"


def _spec(rule: SudoRule) -> str:
    parts = []
    if rule.run_as_users or rule.run_as_groups:
        runas = ", ".join(rule.run_as_users)
        if rule.run_as_groups:
            runas += " : " + ", ".join(rule.run_as_groups)
        parts.append(f"({runas.strip()})")
    parts.extend(f"{TAGS[o]}:" for o in rule.options if o in TAGS)
    parts.append(", ".join(rule.commands))
    return " ".join(parts)
