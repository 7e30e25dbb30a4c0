"""Zone exports and imports: ``/v2/zones/{zone_id}/tasks/export`` and
``/v2/zones/tasks/exports``, ``/v2/zones/tasks/imports``."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from labs.common.http import Api, Call, Reply
from labs.dns import schemas
from labs.dns.api import views
from labs.dns.api.base import ZONE_FILE, caller, collection_links, list_query, listing
from labs.dns.service import DnsService
from labs.dns.tasks import TASK_FILTERS, TASK_SORT_KEYS

EXPORTS = "/v2/zones/tasks/exports"
IMPORTS = "/v2/zones/tasks/imports"


def register(api: Api, dns: DnsService) -> None:
    tasks = dns.tasks

    @api.post("/v2/zones/{zone_id}/tasks/export", status=202)
    def create_export(call: Call) -> Reply:
        """Export a zone (its file is rendered when fetched)."""
        call.enforce("dns:create_zone_export")
        body = views.zone_export(call, tasks.export(caller(call), call.params["zone_id"]))
        return Reply(body, status=202, headers={"Location": body["links"]["self"]})

    @api.get(EXPORTS, query=list_query(TASK_FILTERS))
    def list_exports(call: Call) -> dict[str, Any]:
        """List zone exports."""
        call.enforce("dns:find_zone_exports")
        found = tasks.find_exports(caller(call), listing(call, TASK_FILTERS, TASK_SORT_KEYS))
        last = found.rows[-1].id if found.rows else None
        return {"exports": [views.zone_export(call, r) for r in found.rows],
                "links": collection_links(call, found, last),
                "metadata": {"total_count": found.total}}

    @api.get(EXPORTS + "/{export_id}")
    def show_export(call: Call) -> dict[str, Any]:
        """Show a zone export."""
        call.enforce("dns:get_zone_export")
        return views.zone_export(call, tasks.get_export(caller(call), call.params["export_id"]))

    @api.get(EXPORTS + "/{export_id}/export")
    def export_file(call: Call) -> Response:
        """The exported zone file (``text/dns``)."""
        call.enforce("dns:get_zone_export")
        text = tasks.zone_file(caller(call), call.params["export_id"])
        return Response(text, media_type=ZONE_FILE)

    @api.delete(EXPORTS + "/{export_id}")
    def delete_export(call: Call) -> None:
        """Delete a zone export."""
        call.enforce("dns:delete_zone_export")
        tasks.delete_export(caller(call), call.params["export_id"])

    @api.post(IMPORTS, status=202, schema=schemas.zone_file, media_type=ZONE_FILE)
    def create_import(call: Call) -> Reply:
        """Import a zone file (``Content-Type: text/dns``): COMPLETE with the zone made,
        or ERROR saying why."""
        call.enforce("dns:create_zone_import")
        body = views.zone_import(call, tasks.import_zone(caller(call), call.body))
        return Reply(body, status=202, headers={"Location": body["links"]["self"]})

    @api.get(IMPORTS, query=list_query(TASK_FILTERS))
    def list_imports(call: Call) -> dict[str, Any]:
        """List zone imports."""
        call.enforce("dns:find_zone_imports")
        found = tasks.find_imports(caller(call), listing(call, TASK_FILTERS, TASK_SORT_KEYS))
        last = found.rows[-1].id if found.rows else None
        return {"imports": [views.zone_import(call, r) for r in found.rows],
                "links": collection_links(call, found, last),
                "metadata": {"total_count": found.total}}

    @api.get(IMPORTS + "/{import_id}")
    def show_import(call: Call) -> dict[str, Any]:
        """Show a zone import."""
        call.enforce("dns:get_zone_import")
        return views.zone_import(call, tasks.get_import(caller(call), call.params["import_id"]))

    @api.delete(IMPORTS + "/{import_id}")
    def delete_import(call: Call) -> None:
        """Delete a zone import (not the zone it made)."""
        call.enforce("dns:delete_zone_import")
        tasks.delete_import(caller(call), call.params["import_id"])
