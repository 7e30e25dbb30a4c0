"""Zones and their name servers: ``/v2/zones``."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call, Reply
from labs.dns import schemas
from labs.dns.api import views
from labs.dns.api.base import caller, collection_links, list_query, listing
from labs.dns.service import DnsService
from labs.dns.zones import ZONE_FILTERS, ZONE_SORT_KEYS


def register(api: Api, dns: DnsService) -> None:
    @api.post("/v2/zones", status=202, schema=schemas.zone_create)
    def create_zone(call: Call) -> Reply:
        """Create a zone (PENDING until it is served)."""
        call.enforce("dns:create_zone")
        body = views.zone(call, dns.zones.create(caller(call), call.body))
        return Reply(body, status=202, headers={"Location": body["links"]["self"]})

    @api.get("/v2/zones", query=list_query(ZONE_FILTERS))
    def list_zones(call: Call) -> dict[str, Any]:
        """List zones (filters, sort_key/sort_dir, limit/marker paging)."""
        call.enforce("dns:find_zones")
        found = dns.zones.find(caller(call), listing(call, ZONE_FILTERS, ZONE_SORT_KEYS))
        last = found.rows[-1].id if found.rows else None
        return {"zones": [views.zone(call, z) for z in found.rows],
                "links": collection_links(call, found, last),
                "metadata": {"total_count": found.total}}

    @api.get("/v2/zones/{zone_id}")
    def show_zone(call: Call) -> dict[str, Any]:
        """Show a zone."""
        call.enforce("dns:get_zone")
        return views.zone(call, dns.zones.get(caller(call), call.params["zone_id"]))

    @api.patch("/v2/zones/{zone_id}", status=202, schema=schemas.zone_update)
    def update_zone(call: Call) -> dict[str, Any]:
        """Change a zone's email, TTL or description."""
        call.enforce("dns:update_zone")
        return views.zone(call, dns.zones.update(caller(call), call.params["zone_id"],
                                                 call.body))

    @api.route("DELETE", "/v2/zones/{zone_id}", status=202)
    def delete_zone(call: Call) -> dict[str, Any]:
        """Delete a zone (PENDING DELETE until it is no longer served)."""
        call.enforce("dns:delete_zone")
        return views.zone(call, dns.zones.delete(caller(call), call.params["zone_id"]))

    @api.get("/v2/zones/{zone_id}/nameservers")
    def list_nameservers(call: Call) -> dict[str, Any]:
        """The zone's name servers."""
        call.enforce("dns:get_zone_ns_records")
        servers = dns.zones.nameservers(caller(call), call.params["zone_id"])
        return {"nameservers": [{"hostname": name, "priority": priority}
                                for name, priority in servers]}
