"""The operators' commands, run as ``labs`` (a subprocess) over a site's SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labs.common.runner import Site
from labs.identity import models
from labs.identity.assignments import Grant
from labs.identity.bootstrap import bootstrap
from labs.identity.resources import ProjectFilter
from labs.identity.service import IdentityService
from labs.wiring.identity import open_identity

SRC = Path(__file__).resolve().parents[2] / "src"


def labs(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "LABS_IDENTITY_PASSWORD_HASH_ROUNDS": "4"}
    return subprocess.run([sys.executable, "-m", "labs.cli", *args, "--data-dir",
                           str(data_dir)], env=env, input=stdin, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LABS_IDENTITY_PASSWORD_HASH_ROUNDS", "4")
    monkeypatch.setenv("LABS_DIRECTORY_BACKEND", "sql")  # the site's SQLite, no directory
    identity = _identity(tmp_path)
    bootstrap(identity, "http://testserver", tmp_path, admin_password="pw")
    identity.store.db.dispose()
    return tmp_path


def _identity(data_dir: Path) -> IdentityService:
    identity = open_identity(Site.open(data_dir))
    identity.prepare()
    return identity


def test_create_reset_and_list_members(site: Path) -> None:
    pw_file = site / "pw"
    pw_file.write_text("first-secret\n")
    made = labs(site, "account", "create", "Ada Lovelace", "--shell-name", "ada",
                "--password-file", str(pw_file))
    assert made.returncode == 0, made.stderr
    assert "shell name ada" in made.stdout and "password:" not in made.stdout
    taken = labs(site, "account", "create", "Ada Two", "--shell-name", "ada")
    assert taken.returncode == 1 and "taken" in taken.stderr
    bad = labs(site, "account", "create", "Ada Three", "--shell-name", "Ada;id")
    assert bad.returncode == 1 and "shell_name" in bad.stderr
    generated = labs(site, "account", "create", "Grace Hopper")
    assert generated.returncode == 0, generated.stderr
    assert "shell name grace-hopper" in generated.stdout
    assert "password: " in generated.stdout

    identity = _identity(site)
    try:
        ada = identity.users.find_user_by_shell_name("ada")
        assert identity.users.check_password(ada.id, "first-secret")
        reset = labs(site, "account", "reset-password", "ada", "--password-file", "-",
                     stdin="second-secret\n")
        assert reset.returncode == 0, reset.stderr
        assert identity.users.check_password(ada.id, "second-secret")
        assert not identity.users.check_password(ada.id, "first-secret")
        missing = labs(site, "account", "reset-password", "nobody")
        assert missing.returncode == 1 and "nobody" in missing.stderr

        demo = identity.resources.list_projects(ProjectFilter(name="demo"))[0]
        role = identity.assignments.list_roles("reader")[0]
        identity.assignments.create_grant(Grant(role.id, models.ACTOR_USER, ada.id,
                                                models.TARGET_PROJECT, demo.id))
    finally:
        identity.store.db.dispose()
    members = labs(site, "project", "members", "demo")
    assert members.returncode == 0, members.stderr
    lines = members.stdout.splitlines()
    assert lines[0].split()[:2] == ["shell", "name"]
    assert any(line.startswith("ada ") and line.endswith("Ada Lovelace / reader")
               for line in lines), members.stdout
    assert any(line.startswith("demo ") and line.endswith("demo / member")
               for line in lines), members.stdout
    unknown = labs(site, "project", "members", "no-such-project")
    assert unknown.returncode == 1 and "no-such-project" in unknown.stderr
