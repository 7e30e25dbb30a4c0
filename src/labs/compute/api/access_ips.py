"""A server's access IPs (``accessIPv4``, ``accessIPv6``): the addresses its user says it
is reached at, set at create, update and rebuild; Labs only keeps and shows them."""

from __future__ import annotations

import ipaddress
from typing import Any

from labs.common.errors import BadRequest
from labs.compute import models


def access_ips(fields: dict[str, Any]) -> dict[str, str]:
    """``accessIPv4`` and ``accessIPv6`` of a request, checked (the schema only says they
    are strings), by the Instance column they go to."""
    found = {}
    for key, column, version in (("accessIPv4", "access_ip_v4", 4),
                                 ("accessIPv6", "access_ip_v6", 6)):
        if key not in fields:
            continue
        value = fields[key]
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            address = None
        # a zone (fe80::1%eth0) is no address another host can reach
        if address is None or address.version != version or getattr(address, "scope_id",
                                                                     None):
            raise BadRequest(f"Invalid input for field/attribute {key}. Value: {value}. "
                             f"'{value}' is not a 'ipv{version}'")
        found[column] = str(address)
    return found


def set_access_ips(row: models.Instance, fields: dict[str, Any]) -> None:
    for column, address in access_ips(fields).items():
        setattr(row, column, address)
