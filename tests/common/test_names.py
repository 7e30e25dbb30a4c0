"""Names as DNS labels."""

from __future__ import annotations

import pytest

from labs.common.names import dns_label


@pytest.mark.parametrize("name,label", [
    ("web-1", "web-1"), ("Bot Tools", "bot-tools"), ("db_2.old", "db-2-old"),
    ("--édition--", "dition"), ("x" * 70, "x" * 63), ("a" * 62 + "-b", "a" * 62),
    ("***", "")])
def test_dns_label(name: str, label: str) -> None:
    assert dns_label(name) == label
