"""Reading numbers from text that users send (query strings, headers, record data)."""

from __future__ import annotations


def is_digits(text: str) -> bool:
    """Whether ``text`` is a non-negative integer written in ASCII digits.

    ``str.isdigit`` alone also accepts characters such as ``²``, which ``int()`` refuses:
    text it let through made ``int()`` raise where a 400 was meant.
    """
    return text.isascii() and text.isdigit()
