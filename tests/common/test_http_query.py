"""Paging and yes/no query values, as each API reads them."""

from __future__ import annotations

from functools import partial

import pytest

from labs.common.errors import BadRequest, Conflict
from labs.common.http import next_page_query, read_limit, yes_no


def test_yes_no_with_both_word_sets_refuses_other_words() -> None:
    assert yes_no("TRUE") is True
    assert yes_no("off") is False
    assert yes_no(None) is False
    assert yes_no(None, absent=None) is None
    with pytest.raises(Conflict):
        yes_no("maybe", invalid=lambda: Conflict("no"))
    with pytest.raises(BadRequest):
        yes_no("maybe")


def test_yes_no_with_one_word_set_takes_every_other_word_for_the_other_answer() -> None:
    assert yes_no("", yes=None) is True  # ?nocatalog
    assert yes_no("no", yes=None) is False
    assert yes_no(" Y ", yes=("y",), no=None, strip=True) is True
    assert yes_no("y ", yes=("y",), no=None) is False


def test_read_limit_clamped_as_nova() -> None:
    assert read_limit(None, default=1000, maximum=1000, clamp=True, invalid="bad") == 1000
    assert read_limit("0", default=1000, maximum=1000, clamp=True, invalid="bad") == 1000
    assert read_limit("5000", default=1000, maximum=1000, clamp=True, invalid="bad") == 1000
    with pytest.raises(BadRequest, match="bad"):
        read_limit("-1", default=1000, maximum=1000, clamp=True, invalid="bad")


def test_read_limit_bounded_with_words_and_digits() -> None:
    limit = partial(read_limit, default=20, minimum=1, maximum=1000, invalid="bad",
                    words={"max": 1000}, digits=19)
    assert limit("MAX") == 1000
    assert limit("7") == 7
    for wrong in ("0", "1001", "²", "0" * 19 + "1"):
        with pytest.raises(BadRequest):
            limit(wrong)
    with pytest.raises(Conflict):
        read_limit("x", default=1, maximum=1, invalid="bad", error=Conflict)


def test_next_page_query_replaces_the_marker_last() -> None:
    assert next_page_query([("marker", "a"), ("limit", "2"), ("tag", "x y")], "b") == \
        "limit=2&tag=x+y&marker=b"
