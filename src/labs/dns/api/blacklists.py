"""Blacklists (``/v2/blacklists``): zone names only admins may take."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call, Reply
from labs.dns import schemas
from labs.dns.api import views
from labs.dns.api.base import collection_links, list_query, listing
from labs.dns.blacklists import BLACKLIST_SORT_KEYS
from labs.dns.service import DnsService


def register(api: Api, dns: DnsService) -> None:
    @api.post("/v2/blacklists", status=201, schema=schemas.blacklist_create)
    def create_blacklist(call: Call) -> Reply:
        """Blacklist zone names matching a regular expression (RE2; admins)."""
        call.enforce("dns:create_blacklist")
        body = views.blacklist(call, dns.blacklists.create(call.body))
        return Reply(body, status=201, headers={"Location": body["links"]["self"]})

    @api.get("/v2/blacklists", query=list_query(("pattern",)))
    def list_blacklists(call: Call) -> dict[str, Any]:
        """List blacklists (admins)."""
        call.enforce("dns:find_blacklists")
        found = dns.blacklists.find(listing(call, ("pattern",), BLACKLIST_SORT_KEYS))
        last = found.rows[-1].id if found.rows else None
        return {"blacklists": [views.blacklist(call, b) for b in found.rows],
                "links": collection_links(call, found, last),
                "metadata": {"total_count": found.total}}

    @api.get("/v2/blacklists/{blacklist_id}")
    def show_blacklist(call: Call) -> dict[str, Any]:
        """Show a blacklist (admins)."""
        call.enforce("dns:get_blacklist")
        return views.blacklist(call, dns.blacklists.get(call.params["blacklist_id"]))

    @api.patch("/v2/blacklists/{blacklist_id}", schema=schemas.blacklist_update)
    def update_blacklist(call: Call) -> dict[str, Any]:
        """Change a blacklist's pattern or description (admins)."""
        call.enforce("dns:update_blacklist")
        return views.blacklist(call, dns.blacklists.update(call.params["blacklist_id"],
                                                           call.body))

    @api.delete("/v2/blacklists/{blacklist_id}")
    def delete_blacklist(call: Call) -> None:
        """Delete a blacklist (admins)."""
        call.enforce("dns:delete_blacklist")
        dns.blacklists.delete(call.params["blacklist_id"])
