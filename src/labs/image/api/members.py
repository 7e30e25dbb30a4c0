"""Members of shared images."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call
from labs.image import schemas
from labs.image.api import views
from labs.image.service import ImageService

BASE = "/v2/images/{image_id}/members"


def register(api: Api, service: ImageService) -> None:
    members = service.members

    @api.post(BASE, schema=schemas.member_create)
    def add_member(call: Call) -> dict[str, Any]:
        """Share an image with a project (it must accept)."""
        ctx = call.enforce("image:add_member")
        return views.member(members.add_member(ctx, call.params["image_id"],
                                               call.body["member"]))

    @api.get(BASE)
    def list_members(call: Call) -> dict[str, Any]:
        """The projects an image is shared with."""
        ctx = call.enforce("image:get_members")
        found = members.list_members(ctx, call.params["image_id"])
        return {"members": [views.member(m) for m in found], "schema": "/v2/schemas/members"}

    @api.get(BASE + "/{member_id}")
    def show_member(call: Call) -> dict[str, Any]:
        """One member of a shared image."""
        ctx = call.enforce("image:get_members")
        return views.member(members.get_member(ctx, call.params["image_id"],
                                               call.params["member_id"]))

    @api.put(BASE + "/{member_id}", schema=schemas.member_update)
    def update_member(call: Call) -> dict[str, Any]:
        """A member project accepts or rejects a shared image."""
        ctx = call.enforce("image:modify_member")
        return views.member(members.set_member_status(
            ctx, call.params["image_id"], call.params["member_id"], call.body["status"]))

    @api.delete(BASE + "/{member_id}")
    def remove_member(call: Call) -> None:
        """Stop sharing an image with a project."""
        ctx = call.enforce("image:delete_member")
        members.remove_member(ctx, call.params["image_id"], call.params["member_id"])
