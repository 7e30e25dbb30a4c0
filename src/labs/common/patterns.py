"""Regular expressions a caller sends (list filters such as the server ``name``).

They run on RE2, whose matching is linear in the text: Python's ``re`` backtracks, so
a pattern such as ``^(a+)+$`` against a long name would hold the interpreter (and so
every other request of the process) for seconds. RE2 has no back-references or
look-arounds; a pattern that needs them is a 400, as is any pattern it cannot parse.
"""

from __future__ import annotations

from typing import Protocol, cast

import re2

from labs.common.errors import BadRequest

#: Longer patterns are refused before RE2 builds anything from them.
MAX_PATTERN = 1024


class Pattern(Protocol):
    def search(self, text: str) -> object | None: ...


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a bad pattern is the caller's 400, not a line in our log
    options.max_mem = 8 << 20
    return options


_OPTIONS = _options()


def filter_pattern(pattern: str, field: str) -> Pattern:
    """``pattern`` compiled for searching (as SQL's REGEXP, which Nova's filters use),
    or a BadRequest naming ``field``."""
    if len(pattern) > MAX_PATTERN:
        raise BadRequest(f"Invalid regular expression for {field}: longer than "
                         f"{MAX_PATTERN} characters.")
    try:
        return cast(Pattern, re2.compile(pattern, _OPTIONS))
    except re2.error:
        raise BadRequest(f"Invalid regular expression for {field}: {pattern}") from None
