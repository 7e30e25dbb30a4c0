"""The house's size rules, checked by `./run test`: no module over 400 lines, no function
over 60 lines. Two kinds of function may be longer: route tables (functions named
`register` in an ``api`` or ``routes`` package), which list every route of an API in one
place, and migrations, each one schema change written once.

    python tools/check_sizes.py [PATH ...]     (default: src/labs)

Prints one line per module or function over its limit and exits 1 if there is any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
ROUTE_TABLE = "register"
ROUTE_PACKAGES = {"api", "routes"}


def is_migration(path: Path) -> bool:
    return "migrations" in path.parts


def is_route_table(path: Path, function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return function.name == ROUTE_TABLE and bool(ROUTE_PACKAGES & set(path.parts[:-1]))


def oversized(path: Path) -> Iterator[str]:
    """What in the module at `path` is over its limit, one line each."""
    source = path.read_text()
    lines = len(source.splitlines())
    if lines > MAX_MODULE_LINES:
        yield f"{path}: module is {lines} lines (at most {MAX_MODULE_LINES})"
    for node in ast.walk(ast.parse(source, str(path))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        if length > MAX_FUNCTION_LINES and not (
                is_migration(path) or is_route_table(path, node)):
            yield (f"{path}:{node.lineno}: function {node.name} is {length} lines "
                   f"(at most {MAX_FUNCTION_LINES})")


def modules(roots: list[Path]) -> Iterator[Path]:
    for root in roots:
        yield from sorted(root.rglob("*.py")) if root.is_dir() else [root]


def main(argv: list[str]) -> int:
    roots = [Path(arg) for arg in argv] or [Path("src/labs")]
    found = [line for path in modules(roots) for line in oversized(path)]
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} over the house's size limits")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
