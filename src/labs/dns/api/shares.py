"""TSIG keys (``/v2/tsigkeys``, admins) and zone shares (``/v2/zones/<id>/shares``)."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call, Reply
from labs.dns import schemas
from labs.dns.api import views
from labs.dns.api.base import caller, collection_links, list_query, listing
from labs.dns.service import DnsService
from labs.dns.shares import SHARE_FILTERS, SHARE_SORT_KEYS
from labs.dns.tsigkeys import TSIGKEY_FILTERS, TSIGKEY_SORT_KEYS

SHARES = "/v2/zones/{zone_id}/shares"


def register(api: Api, dns: DnsService) -> None:
    @api.post("/v2/tsigkeys", status=201, schema=schemas.tsigkey_create)
    def create_tsigkey(call: Call) -> Reply:
        """Store a TSIG key for a pool or a zone (admins)."""
        call.enforce("dns:tsigkeys")
        body = views.tsigkey(call, dns.tsigkeys.create(call.body))
        return Reply(body, status=201, headers={"Location": body["links"]["self"]})

    @api.get("/v2/tsigkeys", query=list_query(TSIGKEY_FILTERS))
    def list_tsigkeys(call: Call) -> dict[str, Any]:
        """List TSIG keys (admins; filters: name, algorithm, scope)."""
        call.enforce("dns:tsigkeys")
        found = dns.tsigkeys.find(listing(call, TSIGKEY_FILTERS, TSIGKEY_SORT_KEYS))
        last = found.rows[-1].id if found.rows else None
        return {"tsigkeys": [views.tsigkey(call, k) for k in found.rows],
                "links": collection_links(call, found, last),
                "metadata": {"total_count": found.total}}

    @api.get("/v2/tsigkeys/{tsigkey_id}")
    def show_tsigkey(call: Call) -> dict[str, Any]:
        """Show a TSIG key (admins)."""
        call.enforce("dns:tsigkeys")
        return views.tsigkey(call, dns.tsigkeys.get(call.params["tsigkey_id"]))

    @api.patch("/v2/tsigkeys/{tsigkey_id}", schema=schemas.tsigkey_update)
    def update_tsigkey(call: Call) -> dict[str, Any]:
        """Change a TSIG key's name, algorithm, secret or scope (admins)."""
        call.enforce("dns:tsigkeys")
        return views.tsigkey(call, dns.tsigkeys.update(call.params["tsigkey_id"], call.body))

    @api.delete("/v2/tsigkeys/{tsigkey_id}")
    def delete_tsigkey(call: Call) -> None:
        """Delete a TSIG key (admins)."""
        call.enforce("dns:tsigkeys")
        dns.tsigkeys.delete(call.params["tsigkey_id"])

    # -- zone shares ---------------------------------------------------------------
    @api.post(SHARES, status=201, schema=schemas.share_create)
    def create_share(call: Call) -> Reply:
        """Share a zone with another project (the zone's owner)."""
        call.enforce("dns:share_zone")
        row = dns.shares.create(caller(call), call.params["zone_id"], call.body)
        body = views.share(call, row)
        return Reply(body, status=201, headers={"Location": body["links"]["self"]})

    @api.get(SHARES, query=list_query(SHARE_FILTERS))
    def list_shares(call: Call) -> dict[str, Any]:
        """The zone's shares (filter: target_project_id)."""
        call.enforce("dns:find_zone_shares")
        found = dns.shares.find(caller(call), call.params["zone_id"],
                                listing(call, SHARE_FILTERS, SHARE_SORT_KEYS))
        last = found.rows[-1].id if found.rows else None
        return {"shared_zones": [views.share(call, s) for s in found.rows],
                "links": collection_links(call, found, last),
                "metadata": {"total_count": found.total}}

    @api.get(SHARES + "/{share_id}")
    def show_share(call: Call) -> dict[str, Any]:
        """Show one share of the zone."""
        call.enforce("dns:find_zone_shares")
        return views.share(call, dns.shares.get(caller(call), call.params["zone_id"],
                                                call.params["share_id"]))

    @api.delete(SHARES + "/{share_id}")
    def delete_share(call: Call) -> None:
        """Stop sharing the zone (refused while the target project has recordsets in it)."""
        call.enforce("dns:share_zone")
        dns.shares.delete(caller(call), call.params["zone_id"], call.params["share_id"])
