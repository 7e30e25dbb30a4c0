"""Version discovery (``GET /network/``, no token needed, as Neutron answers: one
version, v2.0, CURRENT), the v2.0 root, and the extensions this API implements.

Only the extensions whose attributes and behaviour the handlers really have are listed:
``external-net`` (``router:external``), ``net-mtu``, ``project-id``, ``pagination``,
``sorting``, ``filter-validation``, ``security-group`` (groups and rules),
``standard-attr-description`` (their ``description``), ``quotas`` and
``quota_details``.
"""

from __future__ import annotations

from typing import Any

from labs.common.errors import NotFound
from labs.common.http import Api, Call
from labs.network.service import NetworkService

EXTENSIONS = (
    ("external-net", "Neutron external network",
     "The router:external attribute of networks.", "2013-01-14T10:00:00-00:00"),
    ("net-mtu", "Network MTU", "The read-only mtu attribute of networks.",
     "2015-03-25T10:00:00-00:00"),
    ("project-id", "project_id field enabled",
     "Resources carry project_id besides tenant_id.", "2016-09-09T09:09:09-09:09"),
    ("pagination", "Pagination support", "Lists take limit and marker.",
     "2016-06-12T00:00:00-00:00"),
    ("sorting", "Sorting support", "Lists take sort_key and sort_dir.",
     "2016-06-12T00:00:00-00:00"),
    ("filter-validation", "Filter parameters validation",
     "A filter on an attribute that cannot be filtered on is refused.",
     "2018-03-21T10:00:00-00:00"),
    ("security-group", "security-group", "The security groups extension.",
     "2012-10-05T10:00:00-00:00"),
    ("standard-attr-description", "standard-attr-description",
     "Extension to add descriptions to standard attributes",
     "2016-02-10T10:00:00-00:00"),
    ("quotas", "Quota management support", "Expose functions for quotas management per "
     "project", "2012-07-29T10:00:00-00:00"),
    ("quota_details", "Quota details management support", "Expose functions for quotas "
     "usage statistics per project", "2017-02-10T10:00:00-00:00"),
)
RESOURCES = ("network", "subnet", "port", "floatingip")


def extension(alias: str, name: str, description: str, updated: str) -> dict[str, Any]:
    return {"alias": alias, "name": name, "description": description, "updated": updated,
            "links": []}


def register(api: Api, _service: NetworkService) -> None:
    @api.get("/", public=True)
    def list_versions(call: Call) -> dict[str, Any]:
        """The network API versions."""
        return {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
            {"href": call.url("/v2.0/"), "rel": "self"}]}]}

    def resources(call: Call) -> dict[str, Any]:
        return {"resources": [{"name": name, "collection": f"{name}s", "links": [
            {"href": call.url(f"/v2.0/{name}s"), "rel": "self"}]} for name in RESOURCES]}

    @api.get("/v2.0", public=True)
    def show_version(call: Call) -> dict[str, Any]:
        """The v2.0 API's resources."""
        return resources(call)

    @api.get("/v2.0/", public=True)
    def show_version_slash(call: Call) -> dict[str, Any]:
        """The v2.0 API's resources (with a trailing slash)."""
        return resources(call)

    @api.get("/v2.0/openapi.json", public=True)
    def openapi(_call: Call) -> dict[str, Any]:
        """This API as an OpenAPI document."""
        return api.openapi()

    @api.get("/v2.0/extensions")
    def list_extensions(call: Call) -> dict[str, Any]:
        """The extensions this API implements."""
        call.enforce("network:get_extension")
        return {"extensions": [extension(*e) for e in EXTENSIONS]}

    @api.get("/v2.0/extensions/{alias}")
    def show_extension(call: Call) -> dict[str, Any]:
        """One extension, by alias."""
        call.enforce("network:get_extension")
        for found in EXTENSIONS:
            if found[0] == call.params["alias"]:
                return {"extension": extension(*found)}
        raise NotFound(f"Extension with alias {call.params['alias']} does not exist")
