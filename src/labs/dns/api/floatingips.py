"""PTR records of floating IPs: ``/v2/reverse/floatingips``."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call, Reply
from labs.dns import schemas
from labs.dns.api import views
from labs.dns.api.base import caller
from labs.dns.service import DnsService

PATH = "/v2/reverse/floatingips"


def register(api: Api, dns: DnsService) -> None:
    @api.get(PATH)
    def list_floatingips(call: Call) -> dict[str, Any]:
        """The caller's project's floating IPs and their PTR records."""
        call.enforce("dns:list_floatingips")
        shown = dns.floating.list(caller(call))
        return {"floatingips": [views.floating_ptr(call, f) for f in shown],
                "links": {"self": call.url(PATH)},
                "metadata": {"total_count": len(shown)}}

    @api.get(PATH + "/{fip_key}")
    def show_floatingip(call: Call) -> dict[str, Any]:
        """A floating IP's PTR record (``<region>:<floating IP id>``)."""
        call.enforce("dns:get_floatingip")
        return views.floating_ptr(call, dns.floating.get(caller(call), call.params["fip_key"]))

    @api.patch(PATH + "/{fip_key}", status=202, schema=schemas.floatingip_set)
    def set_floatingip(call: Call) -> Reply:
        """Set a floating IP's PTR record, or unset it (``ptrdname`` null)."""
        call.enforce("dns:set_floatingip")
        shown = dns.floating.set(caller(call), call.params["fip_key"], call.body)
        return Reply(views.floating_ptr(call, shown), status=202)
