"""Version discovery: ``GET /compute/`` and ``GET /compute/v2.1``, no token needed; and
the extensions (``GET /v2.1/extensions``)."""

from __future__ import annotations

from typing import Any

from labs.common.errors import NotFound
from labs.common.http import Api, Call, Microversions, Reply
from labs.compute.api.extensions import EXTENSIONS, extension
from labs.compute.api.service import ComputeService

UPDATED = "2013-07-23T11:33:21Z"
#: The legacy v2.0 API, as Nova's version list names it (Labs serves v2.1 only).
V2_0: dict[str, Any] = {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
                        "updated": "2011-01-21T11:33:21Z"}


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
        legacy = {**V2_0, "links": [{"rel": "self", "href": call.url("/v2/")}]}
        return {"versions": [legacy, doc]}

    @api.get("/v2.1", public=True)
    def show_version(call: Call) -> Reply:
        """The v2.1 API: its microversion range."""
        return Reply({"version": version_doc(call, versions())})

    @api.get("/v2.1/", public=True)
    def show_version_slash(call: Call) -> Reply:
        """The v2.1 API (with a trailing slash)."""
        return Reply({"version": version_doc(call, versions())})

    @api.get("/v2.1/extensions")
    def list_extensions(call: Call) -> dict[str, Any]:
        """The extensions (Nova's fixed list, of what Labs serves)."""
        call.enforce("compute:extensions")
        return {"extensions": [extension(alias) for alias in EXTENSIONS]}

    @api.get("/v2.1/extensions/{alias}")
    def show_extension(call: Call) -> dict[str, Any]:
        """One extension by its alias."""
        call.enforce("compute:extensions")
        if call.params["alias"] not in EXTENSIONS:
            raise NotFound("The resource could not be found.")
        return {"extension": extension(call.params["alias"])}

    @api.get("/v2.1/openapi.json", public=True)
    def openapi(_call: Call) -> dict[str, Any]:
        """This API as an OpenAPI document."""
        return api.openapi()
