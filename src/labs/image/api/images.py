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
    query_strings,
    read_limit,
    validate,
    yes_no,
)
from labs.common.numbers import is_digits
from labs.image import schemas
from labs.image.api import views
from labs.image.data import NoContent, RangeNotSatisfiable
from labs.image.records import READ_ONLY, SORT_KEYS, VISIBILITIES, ImageFilter
from labs.image.service import ImageService

VERSIONS = ("2.16", "2.15", "2.14", "2.13", "2.12", "2.11", "2.10", "2.9", "2.8", "2.7", "2.6",
            "2.5", "2.4", "2.3", "2.2", "2.1", "2.0")
PATCH_TYPES = ("application/openstack-images-v2.1-json-patch",
               "application/openstack-images-v2.0-json-patch")
MAX_LIMIT = 1000
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

#: The query parameters of the image list.
LIST_QUERY = {"limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
              **query_strings("marker", "name", "status", "visibility", "owner", "member_status",
                              "tag", "id", "os_hidden", "sort", "sort_key", "sort_dir")}


def _sort(call: Call) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    if "sort" in call.query:
        for part in call.query["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            pairs.append((key, direction or "desc"))
    else:
        keys = call.query.getlist("sort_key") or ["created_at"]
        dirs = call.query.getlist("sort_dir") or ["desc"]
        if len(dirs) not in (1, len(keys)):
            raise BadRequest("Give one sort_dir, or one for each sort_key.")
        pairs = [(k, dirs[i] if len(dirs) > 1 else dirs[0]) for i, k in enumerate(keys)]
    for key, direction in pairs:
        if key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort key: {key}. Use one of {', '.join(SORT_KEYS)}.")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {direction}. Use asc or desc.")
    return tuple(pairs)


def image_filter(call: Call) -> ImageFilter:
    q = call.query
    visibility = q.get("visibility")
    if visibility is not None and visibility not in (*VISIBILITIES, "all"):
        raise BadRequest(f"Invalid visibility value: {visibility}")
    member_status = q.get("member_status", "accepted")
    if member_status not in ("pending", "accepted", "rejected", "all"):
        raise BadRequest(f"Invalid member_status value: {member_status}")
    hidden = yes_no(q.get("os_hidden"), yes=("true",), no=("false",), invalid=lambda: BadRequest(
        f"Invalid os_hidden value: {q['os_hidden']}. Use true or false."))
    ids = None
    if "id" in q:
        if not q["id"].startswith("in:"):
            raise BadRequest("The id filter takes the form id=in:ID1,ID2.")
        ids = tuple(i for i in q["id"][3:].split(",") if i)
    return ImageFilter(
        name=q.get("name"), status=q.get("status"), visibility=visibility,
        owner=q.get("owner"), member_status=member_status, tags=tuple(q.getlist("tag")),
        ids=ids, os_hidden=hidden, sort=_sort(call),
        limit=read_limit(q.get("limit"), default=25, minimum=1, maximum=MAX_LIMIT, digits=19,
                         invalid=f"limit must be an integer from 1 to {MAX_LIMIT}."),
        marker=q.get("marker"))


def patch_changes(body: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    """(op, attribute, value) of each operation; values are checked as on create
    (read-only attributes are left to the service, which refuses them with 403)."""
    changes = []
    for op in body:
        name = op["path"][1:]
        if op["op"] != "remove":
            if "value" not in op:
                raise BadRequest(f"Operation {op['op']} on {op['path']} needs a value.")
            if name not in READ_ONLY:
                validate({name: op["value"]}, schemas.image_create)
        changes.append((op["op"], name, op.get("value")))
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
        return Reply(views.image(view), status=201,
                     headers={"Location": call.url(f"/v2/images/{view.row.id}")})

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
               media_type=PATCH_TYPES[0])
    def update_image(call: Call) -> dict[str, Any]:
        """Change an image with JSON-patch operations."""
        ctx = call.enforce("image:modify_image")
        ctype = call.headers.get("content-type", "").split(";")[0].strip()
        if ctype not in PATCH_TYPES:
            raise UnsupportedMediaType(f"Send the changes as {PATCH_TYPES[0]}.")
        return views.image(records.update(ctx, call.params["image_id"],
                                          patch_changes(call.body)))

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
