"""Recordsets: ``/v2/zones/{zone_id}/recordsets`` and the project-wide
``/v2/recordsets``."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call, Reply
from labs.dns import schemas
from labs.dns.api import views
from labs.dns.api.base import caller, collection_links, list_query, listing
from labs.dns.recordsets import RECORDSET_FILTERS, RECORDSET_SORT_KEYS
from labs.dns.service import DnsService


def register(api: Api, dns: DnsService) -> None:
    def list_of(call: Call, zone_id: str | None) -> dict[str, Any]:
        call.enforce("dns:find_recordsets")
        found, shown = dns.recordsets.find(
            caller(call), zone_id, listing(call, RECORDSET_FILTERS, RECORDSET_SORT_KEYS))
        last = shown[-1].row.id if shown else None
        return {"recordsets": [views.recordset(call, v) for v in shown],
                "links": collection_links(call, found, last),
                "metadata": {"total_count": found.total}}

    @api.post("/v2/zones/{zone_id}/recordsets", status=202, schema=schemas.recordset_create)
    def create_recordset(call: Call) -> Reply:
        """Create a recordset in a zone."""
        call.enforce("dns:create_recordset")
        view = dns.recordsets.create(caller(call), call.params["zone_id"], call.body)
        body = views.recordset(call, view)
        return Reply(body, status=202, headers={"Location": body["links"]["self"]})

    @api.get("/v2/zones/{zone_id}/recordsets", query=list_query(RECORDSET_FILTERS))
    def list_zone_recordsets(call: Call) -> dict[str, Any]:
        """List a zone's recordsets (filters, paging)."""
        return list_of(call, call.params["zone_id"])

    @api.get("/v2/recordsets", query=list_query(RECORDSET_FILTERS))
    def list_recordsets(call: Call) -> dict[str, Any]:
        """List the recordsets of every zone the caller sees (filters, paging)."""
        return list_of(call, None)

    @api.get("/v2/recordsets/{recordset_id}")
    def find_recordset(call: Call) -> Reply:
        """Where a recordset lives: a redirect to it under its zone."""
        call.enforce("dns:get_recordset")
        view = dns.recordsets.get(caller(call), None, call.params["recordset_id"])
        return Reply(None, status=301, headers={"Location": views.recordset(
            call, view)["links"]["self"]})

    @api.get("/v2/zones/{zone_id}/recordsets/{recordset_id}")
    def show_recordset(call: Call) -> dict[str, Any]:
        """Show a recordset."""
        call.enforce("dns:get_recordset")
        return views.recordset(call, dns.recordsets.get(
            caller(call), call.params["zone_id"], call.params["recordset_id"]))

    @api.put("/v2/zones/{zone_id}/recordsets/{recordset_id}", status=202,
             schema=schemas.recordset_update)
    def update_recordset(call: Call) -> dict[str, Any]:
        """Replace a recordset's records, TTL or description."""
        call.enforce("dns:update_recordset")
        return views.recordset(call, dns.recordsets.update(
            caller(call), call.params["zone_id"], call.params["recordset_id"], call.body))

    @api.route("DELETE", "/v2/zones/{zone_id}/recordsets/{recordset_id}", status=202)
    def delete_recordset(call: Call) -> dict[str, Any]:
        """Delete a recordset."""
        call.enforce("dns:delete_recordset")
        return views.recordset(call, dns.recordsets.delete(
            caller(call), call.params["zone_id"], call.params["recordset_id"]))
