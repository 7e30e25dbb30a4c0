"""How images and members look on the wire (Glance v2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labs.image import models
from labs.image.imports import STORE_ID
from labs.image.lookup import ImageView

Body = dict[str, Any]


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def image(view: ImageView) -> Body:
    row = view.row
    body: Body = dict(row.properties or {})
    body.update({
        "id": row.id, "name": row.name, "status": row.status, "visibility": row.visibility,
        "protected": row.protected, "os_hidden": row.os_hidden, "checksum": row.checksum,
        "os_hash_algo": row.os_hash_algo, "os_hash_value": row.os_hash_value,
        "owner": row.owner, "size": row.size, "virtual_size": row.virtual_size,
        "min_ram": row.min_ram, "min_disk": row.min_disk, "disk_format": row.disk_format,
        "container_format": row.container_format, "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at), "tags": list(view.tags),
        "self": f"/v2/images/{row.id}", "file": f"/v2/images/{row.id}/file",
        "schema": "/v2/schemas/image",
    })
    if row.location:  # where the data is, as multi-store Glance says it
        body["stores"] = STORE_ID
    return body


def member(row: models.Member) -> Body:
    return {"image_id": row.image_id, "member_id": row.member, "status": row.status,
            "created_at": timestamp(row.created_at), "updated_at": timestamp(row.updated_at),
            "schema": "/v2/schemas/member"}


def task(row: models.Task, full: bool = True) -> Body:
    """A task; the list shows it without input, result and message (Glance's stub)."""
    body: Body = {"id": row.id, "type": row.type, "status": row.status, "owner": row.owner,
                  "created_at": timestamp(row.created_at),
                  "updated_at": timestamp(row.updated_at), "self": f"/v2/tasks/{row.id}",
                  "schema": "/v2/schemas/task"}
    if full:
        body.update({"input": row.input, "result": row.result, "message": row.message})
        body.update({k: v for k, v in (("image_id", row.image_id),
                                        ("request_id", row.request_id),
                                        ("user_id", row.user_id)) if v})
    if row.expires_at is not None:
        body["expires_at"] = timestamp(row.expires_at)
    return body
