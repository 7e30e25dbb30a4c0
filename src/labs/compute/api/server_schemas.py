"""JSON schemas of the server requests (Nova's, trimmed to what Labs supports)."""

from __future__ import annotations

from typing import Any

NAME: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255,
                        "pattern": r"^(?!\s)[\s\S]*(?<!\s)$"}
METADATA: dict[str, Any] = {
    "type": "object",
    "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
    "additionalProperties": False,
}
TAG: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 60,
                       "pattern": "^[^,/]*$"}
NETWORKS: dict[str, Any] = {"oneOf": [
    {"type": "string", "enum": ["auto", "none"]},
    {"type": "array", "items": {"type": "object", "properties": {
        "uuid": {"type": "string"}, "port": {"type": ["string", "null"]},
        "fixed_ip": {"type": "string"}, "tag": {"type": "string"}},
        "additionalProperties": False}},
]}
#: As Nova's (the address itself is checked by servers.access_ips).
ACCESS_IPV4: dict[str, Any] = {"type": "string", "format": "ipv4"}
ACCESS_IPV6: dict[str, Any] = {"type": "string", "format": "ipv6"}
COUNT: dict[str, Any] = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1}
#: One ``block_device_mapping_v2`` entry: Labs reads only the image it boots from.
BLOCK_DEVICE: dict[str, Any] = {"type": "object", "properties": {
    "source_type": {"type": "string"}, "uuid": {"type": "string"},
    "boot_index": {"type": ["integer", "string", "null"]}}}

CREATE_SERVER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "server": {
            "type": "object",
            "properties": {
                "name": NAME,
                "imageRef": {"type": "string"},
                "flavorRef": {"type": ["string", "integer"]},
                "key_name": {"type": "string"},
                "networks": NETWORKS,
                "user_data": {"type": "string"},
                "metadata": METADATA,
                "availability_zone": {"type": "string"},
                "security_groups": {"type": "array", "items": {
                    "type": "object", "properties": {"name": {"type": "string"}},
                    "required": ["name"]}},
                "min_count": COUNT,
                "max_count": COUNT,
                "return_reservation_id": {"type": ["boolean", "string"]},
                "description": {"type": ["string", "null"], "maxLength": 255},
                "tags": {"type": "array", "items": TAG, "maxItems": 50},
                "config_drive": {"type": ["boolean", "string"]},
                "block_device_mapping_v2": {"type": "array", "items": BLOCK_DEVICE},
                "adminPass": {"type": "string"},
                "accessIPv4": ACCESS_IPV4,
                "accessIPv6": ACCESS_IPV6,
                "OS-DCF:diskConfig": {"type": "string"},
                "hostname": {"type": "string"},
            },
            "required": ["name", "flavorRef"],
            "additionalProperties": False,
        },
        "os:scheduler_hints": {"type": "object"},
        "OS-SCH-HNT:scheduler_hints": {"type": "object"},
    },
    "required": ["server"],
    "additionalProperties": False,
}

UPDATE_SERVER: dict[str, Any] = {
    "type": "object",
    "properties": {"server": {
        "type": "object",
        "properties": {"name": NAME, "description": {"type": ["string", "null"],
                                                     "maxLength": 255},
                       "accessIPv4": ACCESS_IPV4, "accessIPv6": ACCESS_IPV6},
        "additionalProperties": False,
    }},
    "required": ["server"],
    "additionalProperties": False,
}

#: The values of the server actions, by action (see routes/action_table): Nova's checks.
#: The actions Nova reads no value of (os-stop, os-start, unlock, pause, ...) have none.
REBOOT: dict[str, Any] = {"type": "object", "properties": {
    "type": {"type": "string", "enum": ["SOFT", "HARD", "Soft", "Hard", "soft", "hard"]}},
    "required": ["type"], "additionalProperties": False}
REBUILD: dict[str, Any] = {"type": "object", "properties": {
    "imageRef": {"type": "string"}, "name": NAME, "metadata": METADATA,
    "description": {"type": ["string", "null"], "maxLength": 255},
    "adminPass": {"type": "string"}, "OS-DCF:diskConfig": {"type": "string"},
    "preserve_ephemeral": {"type": "boolean"}, "accessIPv4": ACCESS_IPV4,
    "accessIPv6": ACCESS_IPV6},
    "required": ["imageRef"]}
CREATE_IMAGE: dict[str, Any] = {"type": "object", "properties": {
    "name": NAME, "metadata": METADATA}, "required": ["name"], "additionalProperties": False}
#: ``lock`` from 2.73 (before, Nova reads no value).
LOCK_V2_73: dict[str, Any] = {"type": ["null", "object"], "properties": {
    "locked_reason": {"type": "string", "minLength": 1, "maxLength": 255}},
    "additionalProperties": False}
CONSOLE_OUTPUT: dict[str, Any] = {"type": "object", "properties": {
    "length": {"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$"}},
    "additionalProperties": False}
#: ``os-migrateLive`` (microversion rules in routes/move_actions.check_live_migration).
LIVE_MIGRATE: dict[str, Any] = {"type": "object", "properties": {
    "host": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
    "block_migration": {"oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["auto"]}]},
    "disk_over_commit": {"type": "boolean"}, "force": {"type": "boolean"}},
    "required": ["block_migration"], "additionalProperties": False}
ZONE_OR_NULL: dict[str, Any] = {"type": ["string", "null"], "minLength": 1,
                                "maxLength": 255}
#: shelve, shelveOffload, unshelve (2.77: a zone, 2.91: a zone or null, and a host),
#: createBackup, trigger_crash_dump (2.17)
SHELVE_ACTIONS: dict[str, Any] = {
    "shelve": {},  # Nova reads no value
    "shelveOffload": {},
    "unshelve": {"type": ["null", "object"], "properties": {
        "availability_zone": ZONE_OR_NULL,
        "host": {"type": "string", "minLength": 1, "maxLength": 255}},
        "additionalProperties": False},
    "createBackup": {"type": "object", "properties": {
        "name": NAME, "backup_type": {"type": "string", "maxLength": 255},
        "rotation": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 0},
        "metadata": METADATA},
        "required": ["name", "backup_type", "rotation"], "additionalProperties": False},
    "trigger_crash_dump": {"type": "null"},
}
#: resize, confirmResize, revertResize, migrate (an object, with "host", from 2.56).
MOVE_ACTIONS: dict[str, Any] = {
    "resize": {"type": "object", "properties": {
        "flavorRef": {"type": ["string", "integer"], "minLength": 1, "maxLength": 255},
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]}},
        "required": ["flavorRef"], "additionalProperties": False},
    "confirmResize": {},  # Nova reads no value
    "revertResize": {},
    "migrate": {"type": ["null", "object"], "properties": {
        "host": {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
                 "pattern": "^[a-zA-Z0-9-._]*$"}},
        "additionalProperties": False},
}

METADATA_BODY: dict[str, Any] = {
    "type": "object", "properties": {"metadata": METADATA}, "required": ["metadata"],
    "additionalProperties": False}
META_ITEM: dict[str, Any] = {
    "type": "object", "properties": {"meta": {**METADATA, "minProperties": 1,
                                              "maxProperties": 1}},
    "required": ["meta"], "additionalProperties": False}
TAGS_BODY: dict[str, Any] = {
    "type": "object", "properties": {"tags": {"type": "array", "items": TAG}},
    "required": ["tags"], "additionalProperties": False}
