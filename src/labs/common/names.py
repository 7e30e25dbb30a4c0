"""Names as DNS labels: what a server's hostname and a project's part of an FQDN are made
of (``<hostname>.<project>.<domain>``)."""

from __future__ import annotations

import re


def dns_label(name: str) -> str:
    """`name` as a DNS label, as Nova's ``sanitize_hostname``: lower case; spaces, '_'
    and '.' become '-'; other characters than letters, digits and '-' are dropped; at
    most 63 characters, no '-' at either end. Empty when nothing is left."""
    label = re.sub(r"[ _.]", "-", name.lower())
    label = re.sub(r"[^a-z0-9-]", "", label).strip("-")
    return label[:63].rstrip("-")
