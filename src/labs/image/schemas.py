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

_pointer: Schema = {"type": "string", "pattern": "^/[^/]+$", "maxLength": 256}
#: Both of Glance's forms: v2.1 (``{"op": "add", "path": "/x"}``) and v2.0
#: (``{"add": "/x"}``); which one a request uses is said by its media type.
image_patch: Schema = {
    "type": "array", "maxItems": 256,
    "items": {"type": "object", "properties": {
        "op": {"enum": ["add", "replace", "remove"]}, "path": _pointer,
        "add": _pointer, "replace": _pointer, "remove": _pointer,
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
        "stores": {"type": "string"},
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


#: ``POST /v2/images/{id}/import``; the method's name is checked against what the cloud
#: offers by the handler (400, as Glance), the rest of it as Glance's request checks.
image_import: Schema = {
    "type": "object", "required": ["method"],
    "properties": {
        "method": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "maxLength": 64},
            "uri": {"type": "string", "maxLength": 2048}}},
        "stores": {"type": "array", "maxItems": 16,
                   "items": {"type": "string", "maxLength": 255}},
        "all_stores": {"type": "boolean"},
        "all_stores_must_succeed": {"type": "boolean"},
    },
}

TASK_PROPERTIES: Schema = {
    "id": {"type": "string"}, "type": {"enum": ["import", "api_image_import"]},
    "status": {"enum": ["pending", "processing", "success", "failure"]},
    "input": {"type": ["null", "object"]}, "result": {"type": ["null", "object"]},
    "owner": {"type": ["null", "string"]}, "message": {"type": "string"},
    "image_id": {"type": "string"}, "request_id": {"type": "string"},
    "user_id": {"type": "string"}, "expires_at": {"type": ["null", "string"]},
    "created_at": {"type": "string"}, "updated_at": {"type": "string"},
    "self": {"type": "string"}, "schema": {"type": "string"},
}


def task_document() -> Schema:
    return {"name": "task", "properties": TASK_PROPERTIES,
            "links": [{"rel": "self", "href": "{self}"},
                      {"rel": "describedby", "href": "{schema}"}]}


def tasks_document() -> Schema:
    return {"name": "tasks", "properties": {
        "tasks": {"type": "array", "items": task_document()},
        "schema": {"type": "string"}, "first": {"type": "string"}, "next": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}]}
