"""The compute API's image proxy (``/images``, Nova's ``images.py``): the images of the
image service as Nova showed them, up to microversion 2.35 (a 404 from 2.36, as Nova)."""

from __future__ import annotations

from typing import Any

from labs.common.errors import NotFound
from labs.common.http import PAGING, Api, Call, query_strings
from labs.compute.api.images import ImageInfo
from labs.compute.api.routes.security_groups import proxy_version
from labs.compute.api.routes.views import links, next_links, page_limit
from labs.compute.api.service import ComputeService

Body = dict[str, Any]

#: Nova's status and progress of a Glance status.
STATUS = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING", "deleted": "DELETED",
          "pending_delete": "DELETED", "killed": "ERROR", "deactivated": "ERROR",
          "uploading": "SAVING", "importing": "SAVING"}
PROGRESS = {"queued": 25, "saving": 50, "active": 100}
FILTERS = {**PAGING, **query_strings("name", "status", "minRam", "minDisk", "server", "type")}


def brief(call: Call, image: ImageInfo, image_url: str | None = None) -> Body:
    image_links = links(call, "images", image.id)
    if image_url:
        image_links.append({"rel": "alternate", "type": "application/vnd.openstack.image",
                            "href": f"{image_url}/images/{image.id}"})
    return {"id": image.id, "name": image.name, "links": image_links}


def detail(call: Call, image: ImageInfo, image_url: str | None = None) -> Body:
    body = brief(call, image, image_url)
    body.update({
        "minRam": image.min_ram, "minDisk": image.min_disk,
        "metadata": dict(image.properties),
        "created": _date(image.created_at), "updated": _date(image.updated_at),
        "status": STATUS.get(image.status, "UNKNOWN"),
        "progress": PROGRESS.get(image.status, 0), "OS-EXT-IMG-SIZE:size": image.size})
    server = image.properties.get("instance_uuid")
    if server:
        body["server"] = {"id": server, "links": links(call, "servers", str(server))}
    disk_config = str(image.properties.get("auto_disk_config", "")).lower()
    if disk_config:
        body["OS-DCF:diskConfig"] = "AUTO" if disk_config in ("true", "1", "yes", "on") \
            else "MANUAL"
    return body


def _date(moment: Any) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _matches(call: Call, image: ImageInfo) -> bool:
    """Nova's filters of the list (those it passed on to Glance, checked here)."""
    q = call.query
    shown = {"name": image.name, "status": STATUS.get(image.status, "UNKNOWN"),
             "server": str(image.properties.get("instance_uuid", "")),
             "type": str(image.properties.get("image_type", ""))}
    for key, value in shown.items():
        wanted = q.get(key)
        if wanted is not None and (wanted.upper() if key == "status" else wanted) != value:
            return False
    for key, have in (("minRam", image.min_ram), ("minDisk", image.min_disk)):
        if q.get(key, "").isdigit() and have < int(q[key]):
            return False
    return True


def register(api: Api, service: ComputeService) -> None:
    images = service.servers.images
    max_limit = service.options.max_list_limit

    def listing(call: Call, detailed: bool) -> Body:
        proxy_version(call)
        ctx = call.enforce("compute:images:read")
        limit = page_limit(call, max_limit)
        rows = [i for i in images.list_images(ctx, limit, call.query.get("marker"))
                if _matches(call, i)]
        url = images.upload_url()
        body: Body = {"images": [detail(call, i, url) if detailed else brief(call, i, url)
                                 for i in rows]}
        following = next_links(call, "images/detail" if detailed else "images", len(rows),
                               rows[-1].id if rows else None, max_limit)
        if following:
            body["images_links"] = following
        return body

    @api.get("/v2.1/images", query=FILTERS)
    def list_images(call: Call) -> Body:
        """Images: id, name and links (up to 2.35)."""
        return listing(call, detailed=False)

    @api.get("/v2.1/images/detail", query=FILTERS)
    def list_images_detail(call: Call) -> Body:
        """Images in full (up to 2.35)."""
        return listing(call, detailed=True)

    @api.get("/v2.1/images/{image_id}")
    def show_image(call: Call) -> Body:
        """One image (up to 2.35)."""
        proxy_version(call)
        ctx = call.enforce("compute:images:read")
        image = images.find(ctx, call.params["image_id"])
        if image is None or image.status == "deleted":
            raise NotFound("Image not found.")
        return {"image": detail(call, image, images.upload_url())}

    @api.delete("/v2.1/images/{image_id}")
    def delete_image(call: Call) -> None:
        """Delete an image, as the image service allows (up to 2.35)."""
        proxy_version(call)
        ctx = call.enforce("compute:images:delete")
        images.delete_image(ctx, call.params["image_id"])
