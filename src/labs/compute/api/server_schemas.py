"""JSON schemas of the server requests (Nova's, trimmed to what Labs supports)."""

from __future__ import annotations

from typing import Any

from labs.compute.api.network_schemas import SERVER_ACTIONS

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
                "accessIPv4": {"type": "string"},
                "accessIPv6": {"type": "string"},
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
                                                     "maxLength": 255}},
        "additionalProperties": False,
    }},
    "required": ["server"],
    "additionalProperties": False,
}

SERVER_ACTION: dict[str, Any] = {
    "type": "object", "minProperties": 1, "maxProperties": 1,
    "properties": {
        "reboot": {"type": "object", "properties": {
            "type": {"type": "string", "enum": ["SOFT", "HARD", "soft", "hard"]}},
            "required": ["type"]},
        "rebuild": {"type": "object", "properties": {
            "imageRef": {"type": "string"}, "name": NAME, "metadata": METADATA,
            "description": {"type": ["string", "null"], "maxLength": 255},
            "adminPass": {"type": "string"}, "OS-DCF:diskConfig": {"type": "string"},
            "preserve_ephemeral": {"type": "boolean"}},
            "required": ["imageRef"]},
        "createImage": {"type": "object", "properties": {
            "name": NAME, "metadata": METADATA}, "required": ["name"],
            "additionalProperties": False},
        "os-stop": {"type": "null"},
        "os-start": {"type": "null"},
        "lock": {"type": ["null", "object"], "properties": {
            "locked_reason": {"type": "string", "maxLength": 255}},
            "additionalProperties": False},
        "unlock": {"type": "null"},
        "os-getConsoleOutput": {"type": "object", "properties": {
            "length": {"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$"}},
            "additionalProperties": False},
        "resize": {"type": "object", "properties": {
            "flavorRef": {"type": ["string", "integer"], "minLength": 1, "maxLength": 255},
            "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]}},
            "required": ["flavorRef"], "additionalProperties": False},
        "confirmResize": {"type": "null"},
        "revertResize": {"type": "null"},
        # an object (with "host") needs microversion 2.56
        "migrate": {"type": ["null", "object"], "properties": {
            "host": {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
                     "pattern": "^[a-zA-Z0-9-._]*$"}},
            "additionalProperties": False},
        **SERVER_ACTIONS,
    },
    "additionalProperties": False,
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
