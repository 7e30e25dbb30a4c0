"""The house's rules fail on a deliberate violation: the import contracts in pyproject.toml
(lint-imports, run against a copy of src/labs with one bad import added) and the size
limits (tools/check_sizes.py, run against a small package written here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CHECK_SIZES = ROOT / "tools" / "check_sizes.py"

#: (contract id, its name, module to change, the import added, what the check reports)
VIOLATIONS = [
    ("virt", "Virt drivers import only virt and common", "compute/virt/fake.py",
     "import labs.compute.models", "labs.compute.virt.fake -> labs.compute.models"),
    ("drivers", "Drivers never import each other", "compute/virt/fake.py",
     "import labs.compute.virt.qemu", "labs.compute.virt.fake -> labs.compute.virt.qemu"),
    ("common", "Common imports no service", "common/names.py",
     "import labs.dns.service", "labs.common.names -> labs.dns.service"),
    ("api-drivers", "API modules import no driver", "identity/api/users.py",
     "import labs.identity.backends.sql", "labs.identity.api.users -> labs.identity.backends.sql"),
    ("identity-models", "Only identity imports identity's models", "image/service.py",
     "import labs.identity.models", "labs.image.service -> labs.identity.models"),
    ("compute-processes",
     "Compute's processes (API, conductor, scheduler, agent) talk only over the bus",
     "compute/api/servers.py", "import labs.compute.conductor.manager",
     "labs.compute.api.servers -> labs.compute.conductor.manager"),
    ("hosts", "The compute agent and the network host side import no database code",
     "network/agent/host.py", "import labs.network.models",
     "labs.network.agent.host -> labs.network.models"),
    ("network", "Network imports nothing from compute", "network/service.py",
     "import labs.compute.states", "labs.network.service -> labs.compute.states"),
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("pristine")
    shutil.copytree(ROOT / "src" / "labs", copy / "labs",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def lint_imports(src: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """lint-imports with the project's contracts, over the `labs` package under `src`."""
    chosen = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(ROOT / "pyproject.toml"),
                           *chosen], cwd=src, env={**os.environ, "PYTHONPATH": str(src)},
                          capture_output=True, text=True, timeout=60)


def test_the_unchanged_tree_keeps_the_contracts(pristine: Path) -> None:
    run = lint_imports(pristine)  # every contract
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


@pytest.mark.parametrize(("contract", "name", "module", "line", "reported"), VIOLATIONS,
                         ids=[v[0] for v in VIOLATIONS])
def test_a_bad_import_breaks_its_contract(pristine: Path, tmp_path: Path, contract: str,
                                          name: str, module: str, line: str,
                                          reported: str) -> None:
    shutil.copytree(pristine / "labs", tmp_path / "labs")
    changed = tmp_path / "labs" / module
    changed.write_text(changed.read_text() + f"\n{line}  # the deliberate violation\n")
    run = lint_imports(tmp_path, contract)
    assert run.returncode != 0, run.stdout
    assert f"{name} BROKEN" in run.stdout
    assert reported in run.stdout
    assert reported not in lint_imports(pristine, contract).stdout


def function(name: str, lines: int) -> str:
    """A function of exactly `lines` lines."""
    return f"def {name}() -> None:\n" + "    pass\n" * (lines - 1)


def check_sizes(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK_SIZES), str(root)], capture_output=True,
                          text=True, timeout=60)


def test_sizes_within_the_limits_pass(tmp_path: Path) -> None:
    (tmp_path / "api" / "routes").mkdir(parents=True)
    (tmp_path / "migrations").mkdir()
    (tmp_path / "service.py").write_text(function("allocate", 60) + "\n" * 339)
    (tmp_path / "api" / "routes" / "servers.py").write_text(function("register", 90))
    (tmp_path / "migrations" / "0001_initial.py").write_text(function("upgrade", 90))
    run = check_sizes(tmp_path)
    assert (run.returncode, run.stdout) == (0, "")


def test_a_61_line_function_fails(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_text(function("allocate", 60) + function("release", 61))
    (tmp_path / "register.py").write_text(function("register", 61))  # not a route table
    run = check_sizes(tmp_path)
    assert run.returncode == 1
    assert f"{tmp_path / 'service.py'}:61: function release is 61 lines" in run.stdout
    assert f"{tmp_path / 'register.py'}:1: function register is 61 lines" in run.stdout
    assert "allocate" not in run.stdout


def test_a_401_line_module_fails(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text("x = 1\n" * 401)
    (tmp_path / "fits.py").write_text("x = 1\n" * 400)
    run = check_sizes(tmp_path)
    assert run.returncode == 1
    assert run.stdout.splitlines()[0] == f"{tmp_path / 'big.py'}: module is 401 lines (at most 400)"
    assert "fits.py" not in run.stdout
