"""Images: discovery, schemas, records, data, actions and tags."""

from __future__ import annotations

import re
from typing import Any

from labs.common.errors import BadRequest, UnsupportedMediaType
from labs.common.http import (
    Api,
    Call,
    Reply,
    Streamed,
    next_page_query,
    validate,
)
from labs.common.numbers import is_digits
from labs.image import schemas
from labs.image.api import views
from labs.image.api.filters import LIST_QUERY, image_filter
from labs.image.data import NoContent, RangeNotSatisfiable
from labs.image.imports import IMPORT_METHODS, STORE_ID
from labs.image.records import READ_ONLY
from labs.image.service import ImageService

VERSIONS = ("2.16", "2.15", "2.14", "2.13", "2.12", "2.11", "2.10", "2.9", "2.8", "2.7", "2.6",
            "2.5", "2.4", "2.3", "2.2", "2.1", "2.0")
#: The media types of image changes, and the JSON-patch draft each follows.
PATCH_TYPES = {"application/openstack-images-v2.1-json-patch": 10,
               "application/openstack-images-v2.0-json-patch": 4}
OPERATIONS = ("add", "remove", "replace")
#: One byte range; more than 19 digits is no 64-bit offset.
RANGE = re.compile(r"^bytes=([0-9]{0,19})-([0-9]{0,19})$")


def _number(text: str | None, digits: int = 19) -> int | None:
    """A non-negative decimal integer in ASCII digits, or None."""
    if text is None or not is_digits(text) or len(text) > digits:
        return None
    return int(text)


def versions(call: Call) -> dict[str, Any]:
    return {"versions": [{"id": f"v{v}", "status": "CURRENT" if i == 0 else "SUPPORTED",
                          "links": [{"rel": "self", "href": call.url("/v2/")}]}
                         for i, v in enumerate(VERSIONS)]}

def _operation(change: dict[str, Any], draft: int) -> tuple[str, str]:
    """(op, path) of one change in the form of its media type (v2.1: draft 10, v2.0:
    draft 4), with Glance's messages."""
    if draft == 10:
        if "op" not in change:
            raise BadRequest(f"Unable to find `op` in JSON Schema change. It must be one of "
                             f"the following: {', '.join(OPERATIONS)}.")
        if "path" not in change:
            raise BadRequest("Unable to find 'path' in JSON Schema change")
        return change["op"], change["path"]
    named = [op for op in OPERATIONS if op in change]
    if len(named) != 1:
        raise BadRequest('Operation objects must contain exactly one member named "add", '
                         '"remove", or "replace".')
    return named[0], change[named[0]]


def patch_changes(body: list[dict[str, Any]], media_type: str) -> list[tuple[str, str, Any]]:
    """(op, attribute, value) of each operation; values are checked as on create
    (read-only attributes are left to the service, which refuses them with 403)."""
    draft = PATCH_TYPES[media_type]
    changes = []
    for change in body:
        op, path = _operation(change, draft)
        name = path[1:]
        if op != "remove":
            if "value" not in change:
                raise BadRequest(f"Operation {op} on {path} needs a value.")
            if name not in READ_ONLY:
                validate({name: change["value"]}, schemas.image_create)
        changes.append((op, name, change.get("value")))
    return changes


def parse_range(header: str | None) -> tuple[int | None, int | None, int | None]:
    """``Range: bytes=A-B``, ``bytes=A-`` or ``bytes=-N``: (start, end, suffix)."""
    if header is None:
        return None, None, None
    match = RANGE.match(header.strip())
    if match is None or match.groups() == ("", ""):
        raise BadRequest(f"Invalid Range header {header[:100]!r}: use bytes=START-END, "
                         "bytes=START- or bytes=-LENGTH.")
    first, last = match.groups()
    if first == "":  # the last N bytes
        return None, None, int(last)
    if last and int(last) < int(first):
        raise BadRequest(f"Invalid Range header {header[:100]!r}: the range ends before "
                         "it starts.")
    return int(first), int(last) if last else None, None


def register(api: Api, service: ImageService) -> None:
    records, data = service.records, service.data

    @api.get("/", public=True)
    def list_versions(call: Call) -> Reply:
        """The image API versions."""
        return Reply(versions(call), status=300)

    @api.get("/versions", public=True)
    def show_versions(call: Call) -> dict[str, Any]:
        """The image API versions."""
        return versions(call)

    @api.get("/v2/schemas/image", public=True)
    def image_schema(_call: Call) -> dict[str, Any]:
        """The image schema."""
        return schemas.image_document()

    @api.get("/v2/schemas/images", public=True)
    def images_schema(_call: Call) -> dict[str, Any]:
        """The image list schema."""
        return schemas.images_document()

    @api.get("/v2/schemas/member", public=True)
    def member_schema(_call: Call) -> dict[str, Any]:
        """The member schema."""
        return schemas.member_document()

    @api.get("/v2/schemas/members", public=True)
    def members_schema(_call: Call) -> dict[str, Any]:
        """The member list schema."""
        return schemas.members_document()

    @api.get("/v2/openapi.json", public=True)
    def openapi(_call: Call) -> dict[str, Any]:
        """This API as an OpenAPI document."""
        return api.openapi()

    @api.post("/v2/images", status=201, schema=schemas.image_create)
    def create_image(call: Call) -> Reply:
        """Create an image record (status queued)."""
        ctx = call.enforce("image:add_image")
        view = records.create(ctx, call.body)
        # what Glance tells a client that may import data into the new image
        return Reply(views.image(view), status=201,
                     headers={"Location": call.url(f"/v2/images/{view.row.id}"),
                              "OpenStack-image-import-methods": ",".join(IMPORT_METHODS),
                              "OpenStack-image-store-ids": STORE_ID})

    @api.get("/v2/images", query=LIST_QUERY)
    def list_images(call: Call) -> dict[str, Any]:
        """List images (filters, sorting, limit/marker paging)."""
        ctx = call.enforce("image:get_images")
        where = image_filter(call)
        found = records.list_images(ctx, where)
        body: dict[str, Any] = {"images": [views.image(v) for v in found],
                                "first": "/v2/images", "schema": "/v2/schemas/images"}
        if len(found) == where.limit:
            body["next"] = "/v2/images?" + next_page_query(call.query.multi_items(),
                                                            found[-1].row.id)
        return body

    @api.get("/v2/images/{image_id}")
    def show_image(call: Call) -> dict[str, Any]:
        """Show an image."""
        ctx = call.enforce("image:get_image")
        return views.image(records.get(ctx, call.params["image_id"]))

    @api.patch("/v2/images/{image_id}", schema=schemas.image_patch,
               media_type=next(iter(PATCH_TYPES)))
    def update_image(call: Call) -> dict[str, Any]:
        """Change an image with JSON-patch operations."""
        ctx = call.enforce("image:modify_image")
        ctype = call.headers.get("content-type", "").split(";")[0].strip()
        if ctype not in PATCH_TYPES:
            raise UnsupportedMediaType("Image PATCH expects Content-Type one of: "
                                       f"{', '.join(sorted(PATCH_TYPES))}")
        return views.image(records.update(ctx, call.params["image_id"],
                                          patch_changes(call.body, ctype)))

    @api.delete("/v2/images/{image_id}")
    def delete_image(call: Call) -> None:
        """Delete an image and its data."""
        ctx = call.enforce("image:delete_image")
        records.delete(ctx, call.params["image_id"])

    @api.put("/v2/images/{image_id}/file", status=204, stream=True)
    def upload_image(call: Call) -> None:
        """Upload the image's data, streamed."""
        ctx = call.enforce("image:upload_image")
        ctype = call.headers.get("content-type", "application/octet-stream")
        if ctype.split(";")[0].strip() != "application/octet-stream":
            raise UnsupportedMediaType("Image data is sent as application/octet-stream.")
        data.upload(ctx, call.params["image_id"], call.chunks(),
                    _number(call.headers.get("content-length")))

    @api.get("/v2/images/{image_id}/file")
    def download_image(call: Call) -> Streamed | Reply:
        """Download the image's data (whole, or a byte range)."""
        ctx = call.enforce("image:download_image")
        start, end, suffix = parse_range(call.headers.get("range"))
        try:
            got = data.download(ctx, call.params["image_id"], start, end, suffix)
        except NoContent:
            return Reply(None, status=204)
        except RangeNotSatisfiable as err:
            return Reply(api.render_error(err), status=err.code,
                         headers={"Content-Range": f"bytes */{err.size}"})
        headers = {"Content-Length": str(got.end - got.start + 1)}
        if got.view.row.checksum:
            headers["Content-MD5"] = got.view.row.checksum
        if call.headers.get("range") is None:
            return Streamed(got.chunks, headers=headers)
        headers["Content-Range"] = f"bytes {got.start}-{got.end}/{got.total}"
        return Streamed(got.chunks, status=206, headers=headers)

    @api.post("/v2/images/{image_id}/actions/deactivate", status=204)
    def deactivate(call: Call) -> None:
        """Deactivate an image: its data can no longer be downloaded."""
        ctx = call.enforce("image:deactivate")
        records.set_active(ctx, call.params["image_id"], active=False)

    @api.post("/v2/images/{image_id}/actions/reactivate", status=204)
    def reactivate(call: Call) -> None:
        """Reactivate a deactivated image."""
        ctx = call.enforce("image:reactivate")
        records.set_active(ctx, call.params["image_id"], active=True)

    @api.put("/v2/images/{image_id}/tags/{tag}", status=204)
    def add_tag(call: Call) -> None:
        """Tag an image."""
        ctx = call.enforce("image:modify_image")
        if len(call.params["tag"]) > 255:
            raise BadRequest("A tag is at most 255 characters.")
        records.add_tag(ctx, call.params["image_id"], call.params["tag"])

    @api.delete("/v2/images/{image_id}/tags/{tag}")
    def remove_tag(call: Call) -> None:
        """Remove a tag from an image."""
        ctx = call.enforce("image:modify_image")
        records.remove_tag(ctx, call.params["image_id"], call.params["tag"])
