"""bench/accounts.py --quick runs to the end: both backends, every measurement, a table
and its raw numbers (so the benchmark does not rot between full runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH = ROOT / "bench" / "accounts.py"


def test_quick_run_measures_both_backends() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True,
                          text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    for line in ("| sql | sign-up |", "| ldap | sign-up |", "| ldap | GET /v3/users (",
                 "| sql | token issue", "| ldap | `ssh_keys_of`"):
        assert line in done.stdout, done.stdout
    raw = Path(done.stderr.rsplit("raw numbers: ", 1)[1].strip())
    try:
        out = json.loads(raw.read_text())
        assert [b["backend"] for b in out["backends"]] == ["sql", "ldap"]
        for backend in out["backends"]:
            assert backend["load"]["users"] == 300
            assert backend["listed"] >= 300 and backend["list"]["n"] == 3
    finally:
        raw.unlink()
