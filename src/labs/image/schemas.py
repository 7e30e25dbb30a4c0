"""JSON schemas of image request bodies, and the documents `/v2/schemas/*` serve."""

from __future__ import annotations

from typing import Any

from labs.image.formats import CONTAINER_FORMATS, DISK_FORMATS

Schema = dict[str, Any]

_nullable_str: Schema = {"type": ["string", "null"], "maxLength": 255}
IMAGE_PROPERTIES: Schema = {
    "id": {"type": "string", "pattern": "^[0-9a-fA-F-]{32,36}$"},
    "name": _nullable_str,
    "visibility": {"enum": ["public", "private", "shared", "community"]},
    "protected": {"type": "boolean"},
    "os_hidden": {"type": "boolean"},
    "disk_format": {"enum": [*DISK_FORMATS, None]},
    "container_format": {"enum": [*CONTAINER_FORMATS, None]},
    "min_disk": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    "min_ram": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    "tags": {"type": "array", "maxItems": 128, "items": {"type": "string", "minLength": 1,
                                                        "maxLength": 255}},
    "kernel_id": {"type": ["string", "null"], "pattern": "^[0-9a-fA-F-]{32,36}$"},
    "ramdisk_id": {"type": ["string", "null"], "pattern": "^[0-9a-fA-F-]{32,36}$"},
}

image_create: Schema = {
    "type": "object",
    "properties": IMAGE_PROPERTIES,
    # extra properties are strings, as Glance stores them
    "additionalProperties": {"type": ["string", "null"], "maxLength": 65535},
    "propertyNames": {"maxLength": 255, "pattern": "^[^/]+$"},
    "maxProperties": 128,
}

image_patch: Schema = {
    "type": "array", "maxItems": 256,
    "items": {"type": "object", "required": ["op", "path"], "properties": {
        "op": {"enum": ["add", "replace", "remove"]},
        "path": {"type": "string", "pattern": "^/[^/]+$", "maxLength": 256},
    }},
}

member_create: Schema = {"type": "object", "required": ["member"], "properties": {
    "member": {"type": "string", "minLength": 1, "maxLength": 64}}}

member_update: Schema = {"type": "object", "required": ["status"], "properties": {
    "status": {"enum": ["pending", "accepted", "rejected"]}}}


def image_document() -> Schema:
    """What `GET /v2/schemas/image` answers (clients read it to validate)."""
    properties: Schema = {
        **IMAGE_PROPERTIES,
        "status": {"enum": ["queued", "saving", "active", "killed", "deleted",
                            "deactivated", "uploading", "importing", "pending_delete"]},
        "owner": _nullable_str, "checksum": {"type": ["null", "string"], "maxLength": 32},
        "os_hash_algo": _nullable_str, "os_hash_value": {"type": ["null", "string"]},
        "size": {"type": ["null", "integer"]}, "virtual_size": {"type": ["null", "integer"]},
        "created_at": {"type": "string"}, "updated_at": {"type": "string"},
        "self": {"type": "string"}, "file": {"type": "string"}, "schema": {"type": "string"},
        "locations": {"type": "array"}, "direct_url": {"type": "string"},
    }
    return {"name": "image", "properties": properties,
            "additionalProperties": {"type": "string"},
            "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                      {"rel": "describedby", "href": "{schema}"}]}


def images_document() -> Schema:
    return {"name": "images", "properties": {
        "images": {"type": "array", "items": image_document()},
        "schema": {"type": "string"}, "first": {"type": "string"}, "next": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}]}


def member_document() -> Schema:
    return {"name": "member", "properties": {
        "image_id": {"type": "string"}, "member_id": {"type": "string"},
        "status": {"enum": ["pending", "accepted", "rejected"]},
        "created_at": {"type": "string"}, "updated_at": {"type": "string"},
        "schema": {"type": "string"}}}


def members_document() -> Schema:
    return {"name": "members", "properties": {
        "members": {"type": "array", "items": member_document()},
        "schema": {"type": "string"}}}
