"""TLDs (``/v2/tlds``), quotas (``/v2/quotas``) and limits (``/v2/limits``)."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call, Reply
from labs.dns import schemas
from labs.dns.api import views
from labs.dns.api.base import caller, collection_links, list_query, listing
from labs.dns.listing import MAX_LIMIT
from labs.dns.names import MAX_NAME
from labs.dns.service import DnsService

TLD_SORT_KEYS = ("created_at", "id", "updated_at", "name")


def register(api: Api, dns: DnsService) -> None:
    @api.post("/v2/tlds", status=201, schema=schemas.tld_create)
    def create_tld(call: Call) -> Reply:
        """Create a TLD (admins)."""
        call.enforce("dns:create_tld")
        body = views.tld(call, dns.tlds.create(call.body))
        return Reply(body, status=201, headers={"Location": body["links"]["self"]})

    @api.get("/v2/tlds", query=list_query(("name",)))
    def list_tlds(call: Call) -> dict[str, Any]:
        """List TLDs (admins)."""
        call.enforce("dns:find_tlds")
        found = dns.tlds.find(listing(call, ("name",), TLD_SORT_KEYS))
        last = found.rows[-1].id if found.rows else None
        return {"tlds": [views.tld(call, t) for t in found.rows],
                "links": collection_links(call, found, last),
                "metadata": {"total_count": found.total}}

    @api.get("/v2/tlds/{tld_id}")
    def show_tld(call: Call) -> dict[str, Any]:
        """Show a TLD (admins)."""
        call.enforce("dns:get_tld")
        return views.tld(call, dns.tlds.get(call.params["tld_id"]))

    @api.patch("/v2/tlds/{tld_id}", schema=schemas.tld_update)
    def update_tld(call: Call) -> dict[str, Any]:
        """Rename a TLD or change its description (admins)."""
        call.enforce("dns:update_tld")
        return views.tld(call, dns.tlds.update(call.params["tld_id"], call.body))

    @api.delete("/v2/tlds/{tld_id}")
    def delete_tld(call: Call) -> None:
        """Delete a TLD (admins)."""
        call.enforce("dns:delete_tld")
        dns.tlds.delete(call.params["tld_id"])

    @api.get("/v2/quotas")
    def show_own_quotas(call: Call) -> dict[str, Any]:
        """The caller's project's quotas."""
        project_id = caller(call).owning_project()
        call.enforce("dns:get_quotas", {"project_id": project_id})
        return dict(dns.quotas.get(project_id))

    @api.get("/v2/quotas/{project_id}")
    def show_quotas(call: Call) -> dict[str, Any]:
        """A project's quotas (its members, admins)."""
        call.enforce("dns:get_quotas", {"project_id": call.params["project_id"]})
        return dict(dns.quotas.get(call.params["project_id"]))

    @api.patch("/v2/quotas/{project_id}", schema=schemas.quota_update)
    def set_quotas(call: Call) -> dict[str, Any]:
        """Set some of a project's quotas (admins)."""
        call.enforce("dns:set_quota")
        return dict(dns.quotas.set(call.params["project_id"], call.body))

    @api.delete("/v2/quotas/{project_id}")
    def reset_quotas(call: Call) -> None:
        """Put a project's quotas back to the defaults (admins)."""
        call.enforce("dns:reset_quotas")
        dns.quotas.reset(call.params["project_id"])

    @api.get("/v2/limits")
    def show_limits(call: Call) -> dict[str, Any]:
        """The caller's project's quotas and the API's fixed limits, as Designate shows
        them (no minimum TTL is configured)."""
        call.enforce("dns:get_limits")
        quotas = dns.quotas.get(caller(call).owning_project())
        return {"max_zones": quotas["zones"], "max_zone_recordsets": quotas["zone_recordsets"],
                "max_zone_records": quotas["zone_records"],
                "max_recordset_records": quotas["recordset_records"], "min_ttl": None,
                "max_zone_name_length": MAX_NAME, "max_recordset_name_length": MAX_NAME,
                "max_page_limit": MAX_LIMIT}
