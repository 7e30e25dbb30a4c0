"""JSON schemas of accounts request bodies (what the API accepts, nothing looser)."""

from __future__ import annotations

from typing import Any

from labs.accounts.keys import MAX_KEY_TEXT
from labs.identity.posix import MAX_SHELL_NAME

Schema = dict[str, Any]


def _wrap(key: str, body: Schema, required: list[str] | None = None) -> Schema:
    body = {**body, "type": "object", "additionalProperties": False}
    if required:
        body["required"] = required
    return {"type": "object", "properties": {key: body}, "required": [key],
            "additionalProperties": False}


account_update = _wrap("account", {"properties": {
    "login_shell": {"type": "string", "minLength": 1, "maxLength": 255},
    "enabled": {"type": "boolean"},
    # refused with a message of its own: a shell name is fixed
    "shell_name": {"type": "string", "maxLength": 255}}, "minProperties": 1})

key_create = _wrap("key", {"properties": {
    "public_key": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_TEXT}}},
    ["public_key"])

signup = _wrap("account", {"properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 255},
    "password": {"type": "string", "minLength": 1, "maxLength": 4096},
    "shell_name": {"type": "string", "minLength": 1, "maxLength": MAX_SHELL_NAME},
    "email": {"type": "string", "minLength": 3, "maxLength": 255}}},
    ["name", "password"])
