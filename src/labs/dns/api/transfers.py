"""Zone transfers: ``/v2/zones/{zone_id}/tasks/transfer_requests``,
``/v2/zones/tasks/transfer_requests`` and ``/v2/zones/tasks/transfer_accepts``."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call, Reply
from labs.dns import schemas
from labs.dns.api import views
from labs.dns.api.base import caller, collection_links, list_query, listing
from labs.dns.service import DnsService
from labs.dns.transfers import (
    ACCEPT_SORT_KEYS,
    REQUEST_FILTERS,
    REQUEST_SORT_KEYS,
    shows_key,
)

REQUESTS = "/v2/zones/tasks/transfer_requests"
ACCEPTS = "/v2/zones/tasks/transfer_accepts"


def register(api: Api, dns: DnsService) -> None:
    transfers = dns.transfers

    def request_view(call: Call, row: Any) -> dict[str, Any]:
        return views.transfer_request(call, row, shows_key(caller(call), row))

    @api.post("/v2/zones/{zone_id}/tasks/transfer_requests", status=201,
              schema=schemas.transfer_request_create)
    def create_request(call: Call) -> Reply:
        """Offer a zone to another project (or any); the key is made here."""
        call.enforce("dns:create_zone_transfer_request")
        row = transfers.request(caller(call), call.params["zone_id"], call.body)
        body = request_view(call, row)
        return Reply(body, status=201, headers={"Location": body["links"]["self"]})

    @api.get(REQUESTS, query=list_query(REQUEST_FILTERS))
    def list_requests(call: Call) -> dict[str, Any]:
        """Transfer requests the caller's project made or is offered."""
        call.enforce("dns:find_zone_transfer_requests")
        found = transfers.find_requests(caller(call), listing(call, REQUEST_FILTERS,
                                                              REQUEST_SORT_KEYS))
        last = found.rows[-1].id if found.rows else None
        return {"transfer_requests": [request_view(call, r) for r in found.rows],
                "links": collection_links(call, found, last),
                "metadata": {"total_count": found.total}}

    @api.get(REQUESTS + "/{request_id}")
    def show_request(call: Call) -> dict[str, Any]:
        """Show a transfer request (its key to the offering project only)."""
        call.enforce("dns:get_zone_transfer_request")
        return request_view(call, transfers.get_request(caller(call),
                                                        call.params["request_id"]))

    @api.patch(REQUESTS + "/{request_id}", schema=schemas.transfer_request_update)
    def update_request(call: Call) -> dict[str, Any]:
        """Change a transfer request's description or target project."""
        call.enforce("dns:update_zone_transfer_request")
        return request_view(call, transfers.update_request(
            caller(call), call.params["request_id"], call.body))

    @api.delete(REQUESTS + "/{request_id}")
    def delete_request(call: Call) -> None:
        """Withdraw a transfer request."""
        call.enforce("dns:delete_zone_transfer_request")
        transfers.delete_request(caller(call), call.params["request_id"])

    @api.post(ACCEPTS, status=201, schema=schemas.transfer_accept_create)
    def create_accept(call: Call) -> Reply:
        """Accept a transfer request: the zone moves to the caller's project."""
        call.enforce("dns:create_zone_transfer_accept")
        body = views.transfer_accept(call, transfers.accept(caller(call), call.body))
        return Reply(body, status=201, headers={"Location": body["links"]["self"]})

    @api.get(ACCEPTS, query=list_query(("status",)))
    def list_accepts(call: Call) -> dict[str, Any]:
        """The transfers the caller's project accepted."""
        call.enforce("dns:find_zone_transfer_accepts")
        found = transfers.find_accepts(caller(call), listing(call, ("status",),
                                                             ACCEPT_SORT_KEYS))
        last = found.rows[-1].id if found.rows else None
        return {"transfer_accepts": [views.transfer_accept(call, r) for r in found.rows],
                "links": collection_links(call, found, last),
                "metadata": {"total_count": found.total}}

    @api.get(ACCEPTS + "/{accept_id}")
    def show_accept(call: Call) -> dict[str, Any]:
        """Show a transfer accept."""
        call.enforce("dns:get_zone_transfer_accept")
        return views.transfer_accept(call, transfers.get_accept(caller(call),
                                                               call.params["accept_id"]))
