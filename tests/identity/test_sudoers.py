"""A project's rules as a sudoers(5) file that visudo accepts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from labs.identity.sudo.rules import SudoRule, default_rules, parse_rule
from labs.identity.sudo.sudoers import render_sudoers
from tests.identity.sudo_store_contract import FULL

VISUDO = shutil.which("visudo") or "/usr/sbin/visudo"


def visudo_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if not Path(VISUDO).exists():
        pytest.fail("visudo is needed (Debian package sudo; ./run test installs it)")
    path = tmp_path / "sudoers"
    path.write_text(text)
    return subprocess.run([VISUDO, "-c", "-f", str(path)], capture_output=True, text=True,
                          timeout=30, check=False)


def test_the_defaults(tmp_path: Path) -> None:
    text = render_sudoers("p1", default_rules("p1"))
    assert text.splitlines()[1:] == [
        "# default-sudo",
        "%project-p1 ALL = (ALL) NOPASSWD: ALL",
        "# default-sudo-as",
        "%project-p1 ALL = (%project-p1) NOPASSWD: ALL",
    ]
    result = visudo_check(text, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_shape_a_rule_may_take(tmp_path: Path) -> None:
    rules = [
        FULL,
        SudoRule(name="groups.only", users=("ALL",), commands=('/usr/bin/id ""', "!ALL"),
                 run_as_groups=("www-data",), options=("setenv", "!noexec", "log_output")),
        SudoRule(name="root", users=("bob",), commands=("/usr/bin/",), order=1_000_000,
                 options=("authenticate", "!setenv", "noexec", "!log_input", "!log_output",
                          "env_keep-=PATH")),
        parse_rule({"name": "v6", "users": ["ann"], "hosts": ["fd00::/64", "::1"],
                    "commands": ["/bin/true"]}, "project-p1"),
    ]
    text = render_sudoers("p1", rules)
    assert text.index("# root") > text.index("# web.restart")  # highest order last
    assert 'Defaults:%project-p1, ann env_keep += "HTTP_PROXY"' in text
    assert "(: www-data)" in text
    result = visudo_check(text, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_visudo_would_catch_a_broken_file(tmp_path: Path) -> None:
    """The check above means something: visudo refuses what is not sudoers(5)."""
    assert visudo_check("%project-p1 ALL = (ALL NOPASSWD: ALL\n", tmp_path).returncode != 0

