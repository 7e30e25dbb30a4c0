"""Security groups and rules as the network API shows and takes them (Neutron v2.0's
``security-group`` extension, with ``standard-attr-description``): the items, what
filters and sorts their lists, and the request bodies."""

from __future__ import annotations

from typing import Any

from labs.network.api.listing import Collection, Item
from labs.network.api.networks import COMMON_FILTERS
from labs.network.api.views import timestamp
from labs.network.security_rules import (
    GroupRecord,
    RuleRecord,
    SecurityGroupNotFound,
    SecurityGroupRuleNotFound,
    protocol_name,
)


def group_not_found(group_id: str) -> SecurityGroupNotFound:
    return SecurityGroupNotFound(f"Security group {group_id} does not exist")


def rule_not_found(rule_id: str) -> SecurityGroupRuleNotFound:
    return SecurityGroupRuleNotFound(f"Security group rule {rule_id} does not exist")


def _protocol_matches(item: Item, values: list[Any]) -> bool:
    """``?protocol=`` by name or number (``6`` finds ``tcp`` rules)."""
    return item.get("protocol") in {protocol_name(v, item["ethertype"]) for v in values}


GROUPS = Collection(
    "security_group", "security_groups",
    {**COMMON_FILTERS, "stateful": "bool", "shared": "bool"},
    ("id", "name", "project_id", "tenant_id", "description", "stateful",
     "revision_number", "created_at", "updated_at"),
    group_not_found)
RULES = Collection(
    "security_group_rule", "security_group_rules",
    {"id": "str", "project_id": "str", "tenant_id": "str", "description": "str",
     "revision_number": "int", "security_group_id": "str", "direction": "str",
     "ethertype": "str", "protocol": "str", "port_range_min": "int",
     "port_range_max": "int", "remote_ip_prefix": "str", "remote_group_id": "str",
     "normalized_cidr": "str", "remote_address_group_id": "str"},
    ("id", "project_id", "tenant_id", "security_group_id", "direction", "ethertype",
     "protocol", "port_range_min", "port_range_max", "remote_ip_prefix", "remote_group_id",
     "revision_number", "created_at", "updated_at"),
    rule_not_found, {"protocol": _protocol_matches})

_TEXT = {"type": "string", "maxLength": 255}
_ID = {"type": "string", "minLength": 1, "maxLength": 255}
_NULLABLE_ID = {"type": ["string", "null"], "maxLength": 255}
_PORT = {"type": ["integer", "string", "null"]}
_GROUP_FIELDS = {"name": _TEXT, "description": _TEXT, "stateful": {"type": "boolean"}}
GROUP_CREATE = {"type": "object", "required": ["security_group"],
                "additionalProperties": False,
                "properties": {"security_group": {
                    "type": "object", "additionalProperties": False,
                    "properties": {**_GROUP_FIELDS, "project_id": _ID, "tenant_id": _ID}}}}
GROUP_UPDATE = {"type": "object", "required": ["security_group"],
                "additionalProperties": False,
                "properties": {"security_group": {
                    "type": "object", "additionalProperties": False,
                    "properties": _GROUP_FIELDS}}}
RULE_CREATE = {"type": "object", "required": ["security_group_rule"],
               "additionalProperties": False,
               "properties": {"security_group_rule": {
                   "type": "object", "additionalProperties": False,
                   "required": ["security_group_id", "direction"],
                   "properties": {
                       "security_group_id": _ID, "direction": {"type": "string"},
                       "ethertype": {"type": "string"},
                       "protocol": {"type": ["string", "integer", "null"]},
                       "port_range_min": _PORT, "port_range_max": _PORT,
                       "remote_ip_prefix": {"type": ["string", "null"]},
                       "remote_group_id": _NULLABLE_ID,
                       "description": {"type": ["string", "null"], "maxLength": 255},
                       "project_id": _ID, "tenant_id": _ID}}}}


def rule(record: RuleRecord) -> Item:
    """A rule; ``normalized_cidr`` is its CIDR with the host bits cleared (kept so)."""
    return {"id": record.id, "security_group_id": record.group_id,
            "direction": record.direction, "ethertype": record.ethertype,
            "protocol": record.protocol, "port_range_min": record.port_range_min,
            "port_range_max": record.port_range_max,
            "remote_ip_prefix": record.remote_ip_prefix,
            "remote_group_id": record.remote_group_id, "remote_address_group_id": None,
            "normalized_cidr": record.remote_ip_prefix,
            "description": record.description, "project_id": record.project_id,
            "tenant_id": record.project_id, "revision_number": record.revision_number,
            "created_at": timestamp(record.created_at),
            "updated_at": timestamp(record.updated_at)}


def group(record: GroupRecord) -> Item:
    """A group with its rules (never shared: Labs has no RBAC for groups)."""
    return {"id": record.id, "name": record.name, "description": record.description,
            "stateful": record.stateful, "shared": False,
            "security_group_rules": [rule(r) for r in record.rules], "tags": [],
            "project_id": record.project_id, "tenant_id": record.project_id,
            "revision_number": record.revision_number,
            "created_at": timestamp(record.created_at),
            "updated_at": timestamp(record.updated_at)}
