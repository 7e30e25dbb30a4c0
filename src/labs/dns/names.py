"""DNS names as the DNS service keeps them: absolute, lower case, with the trailing dot."""

from __future__ import annotations

import re

from labs.dns.errors import InvalidObject

#: One label: letters, digits, hyphens and underscores (``_sip._tcp``), not starting or
#: ending with a hyphen.
LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
MAX_NAME = 255


def name_error(path: str, value: object, why: str) -> InvalidObject:
    message = f"{value!r} is not a valid name for {path}: {why}"
    return InvalidObject(message, [{"path": [path], "message": message, "validator": "format",
                                    "validator_value": "domainname"}])


def absolute_name(value: str, path: str = "name", *, wildcard: bool = False) -> str:
    """``value`` lower-cased and checked: labels of at most 63 characters, at most 255
    in all, ending with the dot; with ``wildcard`` the first label may be ``*``."""
    name = value.strip().lower()
    if not name.endswith("."):
        raise name_error(path, value, "a fully qualified name ends with a dot")
    if len(name) > MAX_NAME:
        raise name_error(path, value, f"longer than {MAX_NAME} characters")
    labels = name[:-1].split(".")
    if labels == [""]:
        raise name_error(path, value, "the root is not a name here")
    for i, label in enumerate(labels):
        if wildcard and i == 0 and label == "*":
            continue
        if not LABEL.match(label):
            raise name_error(path, value, f"label {label!r} is not a valid label")
    return name


def in_zone(name: str, zone_name: str) -> bool:
    """Whether ``name`` is the zone's apex or below it."""
    return name == zone_name or name.endswith("." + zone_name)


def parents(name: str) -> list[str]:
    """Every name above ``name`` up to its top-level domain, nearest first
    (``a.b.example.org.`` -> ``b.example.org.``, ``example.org.``, ``org.``)."""
    labels = name.rstrip(".").split(".")
    return [".".join(labels[i:]) + "." for i in range(1, len(labels))]


def between(name: str, zone_name: str) -> list[str]:
    """The names from ``name`` up to, not including, the zone's apex (where a sub-zone of
    the zone could hold ``name``)."""
    return [n for n in [name, *parents(name)] if n != zone_name and in_zone(n, zone_name)]


def email_to_rname(email: str) -> str:
    """The SOA's mailbox name: ``host.master@example.org`` -> ``host\\.master.example.org.``."""
    local, _, domain = email.rpartition("@")
    return local.replace(".", "\\.") + "." + domain.rstrip(".").lower() + "."
