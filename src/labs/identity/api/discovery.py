"""Version discovery: ``GET /identity`` and ``GET /identity/v3``, no token needed."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call, Reply
from labs.identity.service import IdentityService

VERSION = "v3.14"
UPDATED = "2020-04-07T00:00:00Z"
MEDIA = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]


def version(call: Call) -> dict[str, Any]:
    return {"id": VERSION, "status": "stable", "updated": UPDATED, "media-types": MEDIA,
            "links": [{"rel": "self", "href": call.url("/v3/")}]}


def register(api: Api, _identity: IdentityService) -> None:
    @api.get("/", public=True)
    def list_versions(call: Call) -> Reply:
        """The versions this identity service speaks."""
        return Reply({"versions": {"values": [version(call)]}}, status=300)

    @api.get("/v3", public=True)
    @api.get("/v3/", public=True)
    def show_version(call: Call) -> dict[str, Any]:
        """Identity v3."""
        return {"version": version(call)}

    @api.get("/v3/openapi.json", public=True)
    def openapi(_call: Call) -> dict[str, Any]:
        """This API as an OpenAPI document."""
        return api.openapi()
