"""Regions, services and endpoints."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call, query_strings
from labs.identity import schemas
from labs.identity.api import views
from labs.identity.service import IdentityService


def register(api: Api, identity: IdentityService) -> None:
    catalog = identity.catalog

    @api.post("/v3/regions", status=201, schema=schemas.region_create)
    def create_region(call: Call) -> dict[str, Any]:
        """Create a region."""
        call.enforce("identity:create_region")
        return {"region": views.region(call, catalog.create_region(call.body["region"]))}

    @api.get("/v3/regions")
    def list_regions(call: Call) -> dict[str, Any]:
        """List regions."""
        call.enforce("identity:list_regions")
        return views.collection(call, "regions",
                                [views.region(call, r) for r in catalog.list_regions()])

    @api.get("/v3/regions/{region_id}")
    def show_region(call: Call) -> dict[str, Any]:
        """Show a region."""
        call.enforce("identity:get_region")
        return {"region": views.region(call, catalog.get_region(call.params["region_id"]))}

    @api.patch("/v3/regions/{region_id}", schema=schemas.region_update)
    def update_region(call: Call) -> dict[str, Any]:
        """Update a region."""
        call.enforce("identity:update_region")
        row = catalog.update_region(call.params["region_id"], call.body["region"])
        return {"region": views.region(call, row)}

    @api.delete("/v3/regions/{region_id}")
    def delete_region(call: Call) -> None:
        """Delete an unused region."""
        call.enforce("identity:delete_region")
        catalog.delete_region(call.params["region_id"])

    @api.post("/v3/services", status=201, schema=schemas.service_create)
    def create_service(call: Call) -> dict[str, Any]:
        """Create a catalog service."""
        call.enforce("identity:create_service")
        return {"service": views.service(call, catalog.create_service(call.body["service"]))}

    @api.get("/v3/services", query=query_strings("type", "name"))
    def list_services(call: Call) -> dict[str, Any]:
        """List catalog services (filters: type, name)."""
        call.enforce("identity:list_services")
        rows = catalog.list_services(call.query.get("type"), call.query.get("name"))
        return views.collection(call, "services", [views.service(call, r) for r in rows])

    @api.get("/v3/services/{service_id}")
    def show_service(call: Call) -> dict[str, Any]:
        """Show a catalog service."""
        call.enforce("identity:get_service")
        return {"service": views.service(call, catalog.get_service(call.params["service_id"]))}

    @api.patch("/v3/services/{service_id}", schema=schemas.service_update)
    def update_service(call: Call) -> dict[str, Any]:
        """Update a catalog service."""
        call.enforce("identity:update_service")
        row = catalog.update_service(call.params["service_id"], call.body["service"])
        return {"service": views.service(call, row)}

    @api.delete("/v3/services/{service_id}")
    def delete_service(call: Call) -> None:
        """Delete a catalog service and its endpoints."""
        call.enforce("identity:delete_service")
        catalog.delete_service(call.params["service_id"])

    @api.post("/v3/endpoints", status=201, schema=schemas.endpoint_create)
    def create_endpoint(call: Call) -> dict[str, Any]:
        """Create an endpoint."""
        call.enforce("identity:create_endpoint")
        return {"endpoint": views.endpoint(call, catalog.create_endpoint(call.body["endpoint"]))}

    @api.get("/v3/endpoints", query=query_strings("service_id", "interface", "region_id"))
    def list_endpoints(call: Call) -> dict[str, Any]:
        """List endpoints (filters: service_id, interface, region_id)."""
        call.enforce("identity:list_endpoints")
        q = call.query
        rows = catalog.list_endpoints(q.get("service_id"), q.get("interface"), q.get("region_id"))
        return views.collection(call, "endpoints", [views.endpoint(call, r) for r in rows])

    @api.get("/v3/endpoints/{endpoint_id}")
    def show_endpoint(call: Call) -> dict[str, Any]:
        """Show an endpoint."""
        call.enforce("identity:get_endpoint")
        row = catalog.get_endpoint(call.params["endpoint_id"])
        return {"endpoint": views.endpoint(call, row)}

    @api.patch("/v3/endpoints/{endpoint_id}", schema=schemas.endpoint_update)
    def update_endpoint(call: Call) -> dict[str, Any]:
        """Update an endpoint."""
        call.enforce("identity:update_endpoint")
        row = catalog.update_endpoint(call.params["endpoint_id"], call.body["endpoint"])
        return {"endpoint": views.endpoint(call, row)}

    @api.delete("/v3/endpoints/{endpoint_id}")
    def delete_endpoint(call: Call) -> None:
        """Delete an endpoint."""
        call.enforce("identity:delete_endpoint")
        catalog.delete_endpoint(call.params["endpoint_id"])
