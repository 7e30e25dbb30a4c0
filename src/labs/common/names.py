"""Names as DNS labels: what a server's hostname and a project's part of an FQDN are made
of (``<hostname>.<project>.<domain>``)."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator


def dns_label(name: str) -> str:
    """`name` as a DNS label, as Nova's ``sanitize_hostname``: lower case; spaces, '_'
    and '.' become '-'; other characters than letters, digits and '-' are dropped; at
    most 63 characters, no '-' at either end. Empty when nothing is left."""
    label = re.sub(r"[ _.]", "-", name.lower())
    label = re.sub(r"[^a-z0-9-]", "", label).strip("-")
    return label[:63].rstrip("-")


#: A project's label: what its name becomes where a name must be a DNS label (FQDNs,
#: the project's posix group ``project-<label>``, homes, exports).
PROJECT_LABEL = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
LABEL_MAX = 63
#: What a label that would not start with a letter gets in front, and what a name with
#: nothing label-like in it becomes.
LABEL_PREFIX, EMPTY_LABEL = "p-", "project"


def project_label(name: str) -> str:
    """The label a project named `name` asks for: lower case (``ß`` → ``ss``), accents
    dropped (``é`` → ``e``), every other character outside [a-z0-9] folded to '-', runs
    of '-' collapsed, trimmed, ``p-`` in front of a leading digit, at most 63 characters.
    Never empty."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name.casefold())
                    if not unicodedata.combining(c))
    label = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")
    if not label:
        return EMPTY_LABEL
    if not label[0].isalpha():
        label = LABEL_PREFIX + label
    return label[:LABEL_MAX].rstrip("-")


def label_candidates(base: str) -> Iterator[str]:
    """`base`, then ``base-2``, ``base-3``... (cut so each stays within 63 characters):
    the labels to try, in order, until one is free."""
    yield base
    for n in itertools.count(2):
        suffix = f"-{n}"
        yield base[:LABEL_MAX - len(suffix)].rstrip("-") + suffix
