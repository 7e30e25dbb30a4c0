"""Version discovery: ``GET /dns/`` and ``GET /dns/v2``, no token needed.

keystoneauth reads the list at the catalog's endpoint (``<public>/dns``) and follows
the ``self`` link of the version it wants; Designate lists ``v2`` and its minor
versions, all served at ``/v2``.
"""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call
from labs.dns.service import DnsService

API_REF = "https://docs.openstack.org/api-ref/dns"
VERSIONS = (("v2", "SUPPORTED", "2022-06-29T00:00:00Z"),
            ("v2.0", "SUPPORTED", "2022-06-29T00:00:00Z"),
            ("v2.1", "CURRENT", "2023-01-25T00:00:00Z"))


def versions(call: Call) -> list[dict[str, Any]]:
    href = call.url("/v2")
    return [{"id": ident, "status": status, "updated": updated,
             "links": [{"href": href, "rel": "self"}, {"href": API_REF, "rel": "help"}]}
            for ident, status, updated in VERSIONS]


def register(api: Api, _service: DnsService) -> None:
    @api.get("/", public=True)
    def list_versions(call: Call) -> dict[str, Any]:
        """The DNS API versions."""
        return {"versions": versions(call)}

    @api.get("/v2", public=True)
    def show_version(call: Call) -> dict[str, Any]:
        """The v2 API."""
        return {"version": versions(call)[-1]}

    @api.get("/v2/", public=True)
    def show_version_slash(call: Call) -> dict[str, Any]:
        """The v2 API (with a trailing slash)."""
        return {"version": versions(call)[-1]}

    @api.get("/v2/openapi.json", public=True)
    def openapi(_call: Call) -> dict[str, Any]:
        """This API as an OpenAPI document."""
        return api.openapi()
