"""Names as DNS labels: servers' hostnames and projects' labels."""

from __future__ import annotations

import itertools

import pytest

from labs.common.names import PROJECT_LABEL, dns_label, label_candidates, project_label


@pytest.mark.parametrize("name,label", [
    ("web-1", "web-1"), ("Bot Tools", "bot-tools"), ("db_2.old", "db-2-old"),
    ("--édition--", "dition"), ("x" * 70, "x" * 63), ("a" * 62 + "-b", "a" * 62),
    ("***", "")])
def test_dns_label(name: str, label: str) -> None:
    assert dns_label(name) == label


@pytest.mark.parametrize("name,label", [
    ("demo", "demo"),
    ("tempest-ImagesTagsTest-1507726952", "tempest-imagestagstest-1507726952"),
    ("Tempest-Proj.1", "tempest-proj-1"),
    ("Bots & Tools", "bots-tools"),
    ("a..b__c  d", "a-b-c-d"),            # runs of anything else are one '-'
    ("--édition--", "edition"),           # accents dropped, ends trimmed
    ("Ünïcödé Straße", "unicode-strasse"),
    ("ﬁle", "file"),                      # compatibility forms unfolded
    ("名前 wiki", "wiki"),                 # what has no Latin form goes
    ("1507726952", "p-1507726952"),       # a label starts with a letter
    ("-9lives", "p-9lives"),
    ("***", "project"), ("", "project"), ("名前", "project"),
    ("x" * 64, "x" * 63),
    ("a" * 62 + ".b", "a" * 62),          # cut at 63, no '-' left at the end
    ("9" * 64, "p-" + "9" * 61),
])
def test_project_label(name: str, label: str) -> None:
    assert project_label(name) == label
    assert PROJECT_LABEL.fullmatch(label) and len(label) <= 63


def test_labels_are_fixed_points() -> None:
    for name in ("Tempest-Proj.1", "ÉTÉ 2024", "x" * 80, "9x"):
        label = project_label(name)
        assert project_label(label) == label == dns_label(label)


def test_label_candidates_stay_labels_when_suffixed() -> None:
    assert list(itertools.islice(label_candidates("web"), 4)) == [
        "web", "web-2", "web-3", "web-4"]
    long = project_label("x" * 64)
    first = list(itertools.islice(label_candidates(long), 12))
    assert first[1] == "x" * 61 + "-2" and first[11] == "x" * 60 + "-12"
    cut = "a" * 61 + "-b"                 # the cut would leave a '-' before the suffix
    assert list(itertools.islice(label_candidates(cut), 2))[1] == "a" * 61 + "-2"
    for candidate in first:
        assert PROJECT_LABEL.fullmatch(candidate) and len(candidate) <= 63
    assert len(set(first)) == len(first)
