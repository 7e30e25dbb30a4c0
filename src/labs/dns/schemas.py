"""JSON schemas of DNS request bodies (Designate v2)."""

from __future__ import annotations

from typing import Any

from labs.dns.listing import MAX_TTL

TTL: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_TTL}
DESCRIPTION: dict[str, Any] = {"type": ["string", "null"], "maxLength": 160}
NAME: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255}
EMAIL: dict[str, Any] = {"type": "string", "maxLength": 255,
                         "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"}

zone_create: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": NAME, "email": EMAIL, "ttl": TTL, "description": DESCRIPTION,
        "type": {"type": "string", "enum": ["PRIMARY", "SECONDARY"]},
        "masters": {"type": "array", "items": {"type": "string"}, "maxItems": 0},
        "attributes": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["name", "email"],
    "additionalProperties": False,
}

zone_update: dict[str, Any] = {
    "type": "object",
    "properties": {"email": EMAIL, "ttl": TTL, "description": DESCRIPTION},
    "additionalProperties": False,
}

recordset_create: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": NAME,
        "type": {"type": "string", "pattern": "^[A-Za-z0-9]{1,10}$"},
        "ttl": {"anyOf": [TTL, {"type": "null"}]},
        "description": DESCRIPTION,
        "records": {"type": "array", "minItems": 1, "maxItems": 1000,
                    "items": {"type": "string", "minLength": 1, "maxLength": 4096}},
    },
    "required": ["name", "type", "records"],
    "additionalProperties": False,
}

recordset_update: dict[str, Any] = {
    "type": "object",
    "properties": {k: recordset_create["properties"][k]
                   for k in ("ttl", "description", "records")},
    "additionalProperties": False,
}

tld_create: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 255,
                            "pattern": r"^(?!.*\.\.)[A-Za-z0-9_.-]+\.?$"},
                   "description": DESCRIPTION},
    "required": ["name"],
    "additionalProperties": False,
}

tld_update: dict[str, Any] = {
    "type": "object",
    "properties": tld_create["properties"],
    "additionalProperties": False,
}

blacklist_create: dict[str, Any] = {
    "type": "object",
    "properties": {"pattern": {"type": "string", "minLength": 1, "maxLength": 255},
                   "description": DESCRIPTION},
    "required": ["pattern"],
    "additionalProperties": False,
}

blacklist_update: dict[str, Any] = {
    "type": "object",
    "properties": blacklist_create["properties"],
    "additionalProperties": False,
}

quota_update: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": "integer", "minimum": -1, "maximum": 2147483647},
}

UUID_LIKE: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 64}

transfer_request_create: dict[str, Any] = {
    "type": "object",
    "properties": {"target_project_id": {"anyOf": [UUID_LIKE, {"type": "null"}]},
                   "description": DESCRIPTION},
    "additionalProperties": False,
}

transfer_request_update: dict[str, Any] = transfer_request_create

transfer_accept_create: dict[str, Any] = {
    "type": "object",
    "properties": {"key": {"type": "string", "minLength": 1, "maxLength": 64},
                   "zone_transfer_request_id": UUID_LIKE},
    "required": ["key", "zone_transfer_request_id"],
    "additionalProperties": False,
}

#: A zone file (``text/dns``): read by the import itself.
zone_file: dict[str, Any] = {"type": "string"}

floatingip_set: dict[str, Any] = {
    "type": "object",
    "properties": {"ptrdname": {"anyOf": [NAME, {"type": "null"}]},
                   "ttl": {"anyOf": [TTL, {"type": "null"}]}, "description": DESCRIPTION},
    "required": ["ptrdname"],
    "additionalProperties": False,
}

_tsigkey: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 255},
    "algorithm": {"enum": ["hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256",
                           "hmac-sha384", "hmac-sha512"]},
    "secret": {"type": "string", "minLength": 1, "maxLength": 255},
    "scope": {"enum": ["POOL", "ZONE"]},
    "resource_id": {"type": "string", "pattern": "^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}"
                                                  "[0-9a-fA-F]{12}$"},
}
tsigkey_create: dict[str, Any] = {
    "type": "object", "properties": _tsigkey,
    "required": ["name", "algorithm", "secret", "scope", "resource_id"],
    "additionalProperties": False,
}
tsigkey_update: dict[str, Any] = {
    "type": "object", "properties": {k: v for k, v in _tsigkey.items() if k != "resource_id"},
    "additionalProperties": False,
}
share_create: dict[str, Any] = {
    "type": "object",
    "properties": {"target_project_id": {"type": "string", "minLength": 1, "maxLength": 64}},
    "required": ["target_project_id"], "additionalProperties": False,
}
