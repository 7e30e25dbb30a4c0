"""Access rules: what a token made from a restricted application credential may call.

Matched as keystonemiddleware's auth_token does: the service type of the API, the
method exactly, and the path inside the service's root (``/v2.1/servers`` for compute)
against a glob where ``*`` (or a ``{placeholder}``) is one path segment and ``**`` any
number of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_TOKEN = re.compile(r"(?P<tag>\{[^}]*\})|(?P<any>\*\*)|(?P<one>\*)|(?P<literal>[^{}*]+)")


@dataclass(frozen=True)
class AccessRule:
    service: str
    method: str
    path: str


@lru_cache(maxsize=1024)
def _pattern(glob: str) -> re.Pattern[str]:
    parts = []
    for match in _TOKEN.finditer(glob):
        if match["tag"] or match["one"]:
            parts.append(r"[^/]+")
        elif match["any"]:
            parts.append(r".*")
        else:
            parts.append(re.escape(match["literal"]))
    return re.compile("".join(parts))


def path_matches(path: str, glob: str) -> bool:
    return _pattern(glob).fullmatch(path) is not None


def permits(rules: tuple[AccessRule, ...], service: str, method: str, path: str) -> bool:
    """Whether any rule lets a request of ``method`` on ``path`` of ``service`` through."""
    return any(rule.service == service and rule.method == method
               and path_matches(path, rule.path) for rule in rules)
