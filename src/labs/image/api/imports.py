"""Interoperable import (stage, import), its tasks, and the discovery of what this cloud
offers (``/v2/info/*``), as Glance answers them."""

from __future__ import annotations

from typing import Any

from labs.common.errors import BadRequest, NotFound, UnsupportedMediaType
from labs.common.http import Api, Call, Reply, next_page_query, query_strings, read_limit
from labs.common.numbers import is_digits
from labs.image import schemas
from labs.image.api import views
from labs.image.imports import IMPORT_METHODS, STORE_DESCRIPTION, STORE_ID
from labs.image.service import ImageService
from labs.image.tasks import SORT_KEYS, STATUSES, TYPES, TaskFilter

MAX_LIMIT = 1000
MIB = 1 << 20
TASK_QUERY = {"limit": {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT},
              "sort_key": {"enum": list(SORT_KEYS)}, "sort_dir": {"enum": ["asc", "desc"]},
              "status": {"enum": list(STATUSES)}, "type": {"enum": list(TYPES)},
              **query_strings("marker")}


def task_filter(call: Call) -> TaskFilter:
    q = call.query
    sort_dir = q.get("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise BadRequest(f"Invalid sort direction: {sort_dir}")
    sort_key = q.get("sort_key", "created_at")
    if sort_key not in SORT_KEYS:
        raise BadRequest(f"Invalid sort key: {sort_key}. It must be one of the following: "
                         f"{', '.join(SORT_KEYS)}.")
    status, type_ = q.get("status"), q.get("type")
    if status is not None and status not in STATUSES:
        raise BadRequest(f"Invalid status value: {status}")
    if type_ is not None and type_ not in TYPES:
        raise BadRequest(f"Invalid type value: {type_}")
    return TaskFilter(status=status, type=type_, sort_key=sort_key, sort_dir=sort_dir,
                      limit=read_limit(q.get("limit"), default=25, minimum=0,
                                       maximum=MAX_LIMIT, digits=19,
                                       invalid="limit param must be an integer"),
                      marker=q.get("marker"))


def stores(detail: bool, data_dir: str | None = None, chunk_size: int = 0) -> dict[str, Any]:
    store: dict[str, Any] = {"id": STORE_ID, "description": STORE_DESCRIPTION,
                             "default": "true"}
    if detail:
        store.update({"type": "file", "weight": 0, "properties": {
            "data_dir": data_dir, "chunk_size": chunk_size, "thin_provisioning": False}})
    return {"stores": [store]}


def register(api: Api, service: ImageService) -> None:
    imports, tasks = service.imports, service.tasks

    @api.get("/v2/info/import")
    def import_info(call: Call) -> dict[str, Any]:
        """The import methods this cloud offers."""
        call.enforce("image:get_import_info")
        return {"import-methods": {"description": "Import methods available.",
                                   "type": "array", "value": list(IMPORT_METHODS)}}

    @api.get("/v2/info/stores")
    def list_stores(call: Call) -> dict[str, Any]:
        """The stores images can be kept in, and which is the default."""
        call.enforce("image:get_stores")
        return stores(detail=False)

    @api.get("/v2/info/stores/detail")
    def list_stores_detail(call: Call) -> dict[str, Any]:
        """The stores with their type and settings (admins)."""
        call.enforce("image:stores_info_detail")
        return stores(True, service.store.path("") or None, service.options.chunk_size)

    @api.get("/v2/info/usage")
    def usage(call: Call) -> dict[str, Any]:
        """The project's image storage against its quota (MiB, as Glance counts it)."""
        ctx = call.enforce("image:get_usage")
        used, limit = service.usage(ctx.project_id)
        return {"usage": {"image_size_total": {"usage": -(-used // MIB),
                                               "limit": limit // MIB}}}

    @api.put("/v2/images/{image_id}/stage", status=204, stream=True)
    def stage_image(call: Call) -> None:
        """Stage an image's data for a later import (status uploading)."""
        ctx = call.enforce("image:stage_image")
        ctype = call.headers.get("content-type", "application/octet-stream")
        if ctype.split(";")[0].strip() != "application/octet-stream":
            raise UnsupportedMediaType("Image data is sent as application/octet-stream.")
        length = call.headers.get("content-length")
        imports.stage(ctx, call.params["image_id"], call.chunks(),
                      int(length) if length and is_digits(length) and len(length) < 20
                      else None)

    @api.post("/v2/images/{image_id}/import", status=202, schema=schemas.image_import)
    def import_image(call: Call) -> Reply:
        """Import staged data into the store (a task does it; status importing)."""
        ctx = call.enforce("image:import_image")
        imports.start(ctx, call.params["image_id"], call.body, call.request_id or None)
        return Reply(None, status=202)

    @api.get("/v2/images/{image_id}/tasks")
    def image_tasks(call: Call) -> dict[str, Any]:
        """The tasks of an image (its imports), newest first."""
        ctx = call.enforce("image:get_image_tasks")
        service.records.get(ctx, call.params["image_id"])  # 404 unless visible
        return {"tasks": [views.task(t) for t in tasks.of_image(call.params["image_id"])]}

    @api.get("/v2/tasks", query=TASK_QUERY)
    def list_tasks(call: Call) -> dict[str, Any]:
        """List tasks (filters, sorting, limit/marker paging)."""
        ctx = call.enforce("image:get_tasks")
        where = task_filter(call)
        found = tasks.list_tasks(ctx, where)
        body: dict[str, Any] = {"tasks": [views.task(t, full=False) for t in found],
                                "first": "/v2/tasks", "schema": "/v2/schemas/tasks"}
        if found and len(found) == where.limit:
            body["next"] = "/v2/tasks?" + next_page_query(call.query.multi_items(),
                                                           found[-1].id)
        return body

    @api.get("/v2/tasks/{task_id}")
    def show_task(call: Call) -> dict[str, Any]:
        """Show a task."""
        ctx = call.enforce("image:get_task")
        return views.task(tasks.get(ctx, call.params["task_id"]))

    def no_cache(call: Call) -> None:
        """Labs keeps no image cache in front of its store: Glance's answer without
        ``image_cache_dir`` (admins only, as its cache policy)."""
        call.enforce("image:manage_image_cache")
        raise NotFound("Caching via API is not supported at this site.")

    @api.get("/v2/cache")
    def cache_state(call: Call) -> None:
        """The image cache's state (none here)."""
        no_cache(call)

    @api.delete("/v2/cache")
    def clear_cache(call: Call) -> None:
        """Clear the image cache (none here)."""
        no_cache(call)

    @api.put("/v2/cache/{image_id}")
    def queue_image(call: Call) -> None:
        """Queue an image for caching (no cache here)."""
        no_cache(call)

    @api.delete("/v2/cache/{image_id}")
    def delete_cache_entry(call: Call) -> None:
        """Remove an image from the cache (none here)."""
        no_cache(call)

    @api.get("/v2/schemas/task", public=True)
    def task_schema(_call: Call) -> dict[str, Any]:
        """The task schema."""
        return schemas.task_document()

    @api.get("/v2/schemas/tasks", public=True)
    def tasks_schema(_call: Call) -> dict[str, Any]:
        """The task list schema."""
        return schemas.tasks_document()
