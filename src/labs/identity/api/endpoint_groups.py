"""Endpoint groups (``/v3/OS-EP-FILTER``) and policy blobs (``/v3/policies``), admins only."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call, query_strings
from labs.identity import models, schemas
from labs.identity.api import views
from labs.identity.service import IdentityService

Body = dict[str, Any]
GROUPS = "/v3/OS-EP-FILTER/endpoint_groups"


def endpoint_group(call: Call, row: models.EndpointGroup) -> Body:
    return {"id": row.id, "name": row.name, "description": row.description,
            "filters": row.filters, "links": views.links(call, f"{GROUPS}/{row.id}")}


def policy(call: Call, row: models.PolicyBlob) -> Body:
    return {**(row.extra or {}), "id": row.id, "type": row.type, "blob": row.blob,
            "links": views.links(call, f"/v3/policies/{row.id}")}


def register(api: Api, identity: IdentityService) -> None:
    groups, blobs = identity.endpoint_groups, identity.policy_blobs

    @api.post(GROUPS, status=201, schema=schemas.endpoint_group_create)
    def create_endpoint_group(call: Call) -> Body:
        """Create an endpoint group (filters: service_id, region_id, interface)."""
        call.enforce("identity:endpoint_groups")
        return {"endpoint_group": endpoint_group(
            call, groups.create(call.body["endpoint_group"]))}

    @api.get(GROUPS, query=query_strings("name"))
    def list_endpoint_groups(call: Call) -> Body:
        """List endpoint groups (filter: name)."""
        call.enforce("identity:endpoint_groups")
        return views.collection(call, "endpoint_groups", [
            endpoint_group(call, r) for r in groups.find(call.query.get("name"))])

    @api.get(GROUPS + "/{group_id}")
    def show_endpoint_group(call: Call) -> Body:
        """Show an endpoint group."""
        call.enforce("identity:endpoint_groups")
        return {"endpoint_group": endpoint_group(call, groups.get(call.params["group_id"]))}

    @api.patch(GROUPS + "/{group_id}", schema=schemas.endpoint_group_update)
    def update_endpoint_group(call: Call) -> Body:
        """Update an endpoint group."""
        call.enforce("identity:endpoint_groups")
        row = groups.update(call.params["group_id"], call.body["endpoint_group"])
        return {"endpoint_group": endpoint_group(call, row)}

    @api.delete(GROUPS + "/{group_id}")
    def delete_endpoint_group(call: Call) -> None:
        """Delete an endpoint group and its project associations."""
        call.enforce("identity:endpoint_groups")
        groups.delete(call.params["group_id"])

    @api.get(GROUPS + "/{group_id}/endpoints")
    def list_group_endpoints(call: Call) -> Body:
        """The endpoints an endpoint group's filters match."""
        call.enforce("identity:endpoint_groups")
        return views.collection(call, "endpoints", [
            views.endpoint(call, r) for r in groups.endpoints(call.params["group_id"])])

    @api.get(GROUPS + "/{group_id}/projects")
    def list_group_projects(call: Call) -> Body:
        """The projects an endpoint group is associated with."""
        call.enforce("identity:endpoint_groups")
        return views.collection(call, "projects", [
            views.project(call, r) for r in groups.projects(call.params["group_id"])])

    @api.put(GROUPS + "/{group_id}/projects/{project_id}", status=204)
    def associate_group_project(call: Call) -> None:
        """Associate an endpoint group with a project."""
        call.enforce("identity:endpoint_groups")
        groups.associate(call.params["group_id"], call.params["project_id"])

    @api.get(GROUPS + "/{group_id}/projects/{project_id}")
    def show_group_project(call: Call) -> Body:
        """Whether an endpoint group is associated with a project (404 if not)."""
        call.enforce("identity:endpoint_groups")
        group_id, project_id = call.params["group_id"], call.params["project_id"]
        groups.check(group_id, project_id)
        return {"project_endpoint_group": {
            "endpoint_group_id": group_id, "project_id": project_id,
            "links": views.links(call, f"{GROUPS}/{group_id}/projects/{project_id}")}}

    @api.delete(GROUPS + "/{group_id}/projects/{project_id}")
    def dissociate_group_project(call: Call) -> None:
        """Remove an endpoint group's association with a project."""
        call.enforce("identity:endpoint_groups")
        groups.dissociate(call.params["group_id"], call.params["project_id"])

    @api.get("/v3/OS-EP-FILTER/projects/{project_id}/endpoint_groups")
    def list_project_endpoint_groups(call: Call) -> Body:
        """The endpoint groups associated with a project."""
        call.enforce("identity:endpoint_groups")
        return views.collection(call, "endpoint_groups", [
            endpoint_group(call, r) for r in groups.of_project(call.params["project_id"])])

    # -- policy blobs ------------------------------------------------------------
    @api.post("/v3/policies", status=201, schema=schemas.policy_create)
    def create_policy(call: Call) -> Body:
        """Store a policy blob and its media type."""
        call.enforce("identity:policies")
        return {"policy": policy(call, blobs.create(call.body["policy"]))}

    @api.get("/v3/policies", query=query_strings("type"))
    def list_policies(call: Call) -> Body:
        """List policy blobs (filter: type)."""
        call.enforce("identity:policies")
        return views.collection(call, "policies", [
            policy(call, r) for r in blobs.find(call.query.get("type"))])

    @api.get("/v3/policies/{policy_id}")
    def show_policy(call: Call) -> Body:
        """Show a policy blob."""
        call.enforce("identity:policies")
        return {"policy": policy(call, blobs.get(call.params["policy_id"]))}

    @api.patch("/v3/policies/{policy_id}", schema=schemas.policy_update)
    def update_policy(call: Call) -> Body:
        """Change a policy blob or its type."""
        call.enforce("identity:policies")
        return {"policy": policy(call, blobs.update(call.params["policy_id"],
                                                    call.body["policy"]))}

    @api.delete("/v3/policies/{policy_id}")
    def delete_policy(call: Call) -> None:
        """Delete a policy blob."""
        call.enforce("identity:policies")
        blobs.delete(call.params["policy_id"])
