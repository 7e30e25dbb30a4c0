"""Version discovery: ``GET /compute/`` and ``GET /compute/v2.1``, no token needed."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call, Microversions, Reply
from labs.compute.api.service import ComputeService

UPDATED = "2013-07-23T11:33:21Z"


def version_doc(call: Call, versions: Microversions) -> dict[str, Any]:
    return {
        "id": "v2.1", "status": "CURRENT", "version": versions.text(versions.maximum),
        "min_version": versions.text(versions.minimum), "updated": UPDATED,
        "links": [{"rel": "self", "href": call.url("/v2.1/")},
                  {"rel": "describedby", "type": "text/html",
                   "href": "https://docs.openstack.org/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.compute+json;version=2.1"}],
    }


def register(api: Api, _service: ComputeService) -> None:
    def versions() -> Microversions:
        assert api.microversions is not None
        return api.microversions

    @api.get("/", public=True)
    def list_versions(call: Call) -> dict[str, Any]:
        """The API versions this endpoint serves."""
        doc = version_doc(call, versions())
        doc.pop("media-types")
        doc["links"] = doc["links"][:1]
        return {"versions": [doc]}

    @api.get("/v2.1", public=True)
    def show_version(call: Call) -> Reply:
        """The v2.1 API: its microversion range."""
        return Reply({"version": version_doc(call, versions())})

    @api.get("/v2.1/", public=True)
    def show_version_slash(call: Call) -> Reply:
        """The v2.1 API (with a trailing slash)."""
        return Reply({"version": version_doc(call, versions())})

    @api.get("/v2.1/openapi.json", public=True)
    def openapi(_call: Call) -> dict[str, Any]:
        """This API as an OpenAPI document."""
        return api.openapi()
