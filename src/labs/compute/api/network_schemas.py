"""JSON schemas of the bodies of the compute API's nova-network proxies (security groups,
their rules, floating IPs and the server actions on them), as Nova's.

Like Nova's, they let unknown keys through (these APIs were frozen before Nova turned
``additionalProperties`` off) and leave the rule fields to the service's checks.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_TEXT: Schema = {"type": "string", "minLength": 0, "maxLength": 255}
_ID: Schema = {"type": ["string", "integer"]}

SECURITY_GROUP: Schema = {
    "type": "object",
    "properties": {"security_group": {
        "type": "object", "properties": {"name": _TEXT, "description": _TEXT},
        "required": ["name", "description"]}},
    "required": ["security_group"],
}

SECURITY_GROUP_RULE: Schema = {
    "type": "object",
    "properties": {"security_group_rule": {
        "type": "object",
        "properties": {"parent_group_id": _ID, "group_id": {"type": ["string", "integer",
                                                                     "null"]},
                       "ip_protocol": {}, "from_port": {}, "to_port": {}, "cidr": {}},
        "required": ["parent_group_id"]}},
    "required": ["security_group_rule"],
}

#: ``POST /os-floating-ips``: the pool, or no body at all.
FLOATING_IP_CREATE: Schema = {
    "type": ["object", "null"],
    "properties": {"pool": {"type": ["string", "null"]}},
}

_GROUP_NAME: Schema = {
    "type": "object", "properties": {"name": {"type": "string", "minLength": 1}},
    "required": ["name"], "additionalProperties": False}
_ADDRESS: Schema = {"type": "string", "format": "ipv4", "minLength": 1}

#: The server actions of these APIs (merged into the server action schema).
SERVER_ACTIONS: Schema = {
    "addSecurityGroup": _GROUP_NAME,
    "removeSecurityGroup": _GROUP_NAME,
    "addFloatingIp": {
        "type": "object", "properties": {"address": _ADDRESS, "fixed_address": _ADDRESS},
        "required": ["address"], "additionalProperties": False},
    "removeFloatingIp": {
        "type": "object", "properties": {"address": _ADDRESS}, "required": ["address"],
        "additionalProperties": False},
}
