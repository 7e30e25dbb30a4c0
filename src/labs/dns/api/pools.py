"""Pools (``/v2/pools``: Labs has one, Designate's default) and the DNS service's parts
(``/v2/service_statuses``); admins only."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call
from labs.dns.api import views
from labs.dns.api.base import collection_links, list_query, listing
from labs.dns.errors import MarkerNotFound, NotFound
from labs.dns.listing import Page
from labs.dns.service import DnsService
from labs.dns.statuses import STATUS_FILTERS, STATUS_SORT_KEYS
from labs.dns.zones import POOL_ID

POOL_SORT_KEYS = ("created_at", "id", "updated_at", "name")


class PoolNotFound(NotFound):
    error_type = "pool_not_found"


def register(api: Api, dns: DnsService) -> None:
    def the_pool(call: Call) -> dict[str, Any]:
        return views.pool(call, POOL_ID, list(dns.options.nameservers),
                          dns.zones.first_created())

    @api.get("/v2/pools", query=list_query(("name",)))
    def list_pools(call: Call) -> dict[str, Any]:
        """The pools of name servers: the default one."""
        call.enforce("dns:find_pools")
        wanted = listing(call, ("name",), POOL_SORT_KEYS)
        if wanted.marker not in (None, POOL_ID):
            raise MarkerNotFound(f"Marker {wanted.marker} could not be found")
        pools = [] if wanted.marker or wanted.filters.get("name", "default") not in (
            "default", "*") else [the_pool(call)]
        return {"pools": pools, "links": collection_links(call, Page(pools, len(pools), False),
                                                          None),
                "metadata": {"total_count": len(pools)}}

    @api.get("/v2/pools/{pool_id}")
    def show_pool(call: Call) -> dict[str, Any]:
        """Show a pool."""
        call.enforce("dns:get_pool")
        if call.params["pool_id"] != POOL_ID:
            raise PoolNotFound("Could not find Pool")
        return the_pool(call)

    @api.get("/v2/service_statuses", query=list_query(STATUS_FILTERS))
    def list_service_statuses(call: Call) -> dict[str, Any]:
        """The DNS service's parts and their status (from their heartbeats)."""
        call.enforce("dns:find_service_statuses")
        found, shown = dns.statuses.find(listing(call, STATUS_FILTERS, STATUS_SORT_KEYS))
        last = found.rows[-1].id if found.rows else None
        return {"service_statuses": [views.service_status(call, s.row, s.status)
                                     for s in shown],
                "links": collection_links(call, found, last),
                "metadata": {"total_count": len(shown) if not found.more else found.total}}

    @api.get("/v2/service_statuses/{status_id}")
    def show_service_status(call: Call) -> dict[str, Any]:
        """Show one part's status."""
        call.enforce("dns:get_service_status")
        shown = dns.statuses.get(call.params["status_id"])
        return views.service_status(call, shown.row, shown.status)
