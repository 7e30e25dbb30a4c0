"""Record data per type: what a record of each type may hold, in presentation form.

Every check returns the data as the DNS service stores and serves it (names lower case,
TXT and CAA values quoted) or raises InvalidObject naming the record.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from labs.common.numbers import is_digits
from labs.dns.errors import InvalidObject
from labs.dns.names import absolute_name

#: The types a project may make recordsets of (SOA is the service's own).
USER_TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT")
ALL_TYPES = (*USER_TYPES, "SOA")
MAX_STRING = 255
CAA_TAG = re.compile(r"^[a-z0-9]{1,15}$", re.IGNORECASE)
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


class BadRecord(ValueError):
    """What is wrong with one record."""


def _ipv4(data: str) -> str:
    try:
        return str(ipaddress.IPv4Address(data))
    except ValueError:
        raise BadRecord(f"{data!r} is not an IPv4 address") from None


def _ipv6(data: str) -> str:
    try:
        return str(ipaddress.IPv6Address(data))
    except ValueError:
        raise BadRecord(f"{data!r} is not an IPv6 address") from None


def _name(data: str) -> str:
    try:
        return absolute_name(data, "records")
    except InvalidObject as exc:
        raise BadRecord(exc.message) from None


def _number(text: str, what: str, high: int) -> int:
    if not is_digits(text) or int(text) > high:
        raise BadRecord(f"{what} {text!r} is not a number from 0 to {high}")
    return int(text)


def _fields(data: str, count: int, form: str) -> list[str]:
    parts = data.split()
    if len(parts) != count:
        raise BadRecord(f"{data!r} is not of the form '{form}'")
    return parts


def _mx(data: str) -> str:
    prio, name = _fields(data, 2, "priority name")
    return f"{_number(prio, 'priority', 65535)} {_name(name)}"


def _srv(data: str) -> str:
    prio, weight, port, target = _fields(data, 4, "priority weight port target")
    return (f"{_number(prio, 'priority', 65535)} {_number(weight, 'weight', 65535)} "
            f"{_number(port, 'port', 65535)} {_name(target)}")


def _strings(data: str) -> list[str]:
    """The character strings of a TXT record: quoted ones, or one unquoted string."""
    if not data.startswith('"'):
        if '"' in data:
            raise BadRecord(f"{data!r} has a quote inside unquoted text; quote every string")
        return [data]
    strings: list[str] = []
    rest = data
    while rest:
        match = QUOTED.match(rest)
        if match is None:
            raise BadRecord(f"{data!r} is missing a closing double quote")
        strings.append(match.group(1))
        rest = rest[match.end():].lstrip(" ")
        if rest and not rest.startswith('"'):
            raise BadRecord(f"{data!r} has text outside the quoted strings")
    return strings


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _txt(data: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in data):
        raise BadRecord("TXT records may not hold control characters (newlines included)")
    strings = _strings(data)
    for text in strings:
        size = len(text.encode())
        if size > MAX_STRING:
            raise BadRecord(f"a TXT string is {size} bytes long; each may hold at most "
                            f"{MAX_STRING}")
    return data if data.startswith('"') else _quote(data)


def _caa(data: str) -> str:
    parts = data.split(None, 2)
    if len(parts) != 3:
        raise BadRecord(f"{data!r} is not of the form 'flags tag value'")
    flags, tag, text = parts
    if not CAA_TAG.match(tag):
        raise BadRecord(f"CAA tag {tag!r} is not 1 to 15 letters or digits")
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"') or QUOTED.fullmatch(text) is None:
            raise BadRecord(f"{data!r} is missing a closing double quote")
    else:
        text = _quote(text)
    return f"{_number(flags, 'flags', 255)} {tag.lower()} {text}"


CHECKS: dict[str, Callable[[str], str]] = {
    "A": _ipv4, "AAAA": _ipv6, "CNAME": _name, "NS": _name, "PTR": _name, "MX": _mx,
    "SRV": _srv, "TXT": _txt, "CAA": _caa,
}


def check_records(type_: str, records: list[str]) -> list[str]:
    """The records of a recordset of ``type_``, checked and in stored form."""
    check = CHECKS[type_]
    out: list[str] = []
    errors: list[dict[str, Any]] = []
    for i, data in enumerate(records):
        try:
            value = check(data.strip())
        except BadRecord as exc:
            errors.append({"path": ["records", i], "message": str(exc), "validator": "format",
                           "validator_value": type_.lower()})
            continue
        if value not in out:
            out.append(value)
    if errors:
        raise InvalidObject("Provided object does not match schema: " + "; ".join(
            str(e["message"]) for e in errors), errors)
    return out
