"""Hosts for admins: ``os-services``, ``os-hypervisors``; zones for everyone."""

from __future__ import annotations

from typing import Any

from labs.common.errors import BadRequest, NotFound
from labs.common.http import PAGING, Api, Call, query_strings, yes_no
from labs.common.numbers import is_digits
from labs.compute.api import schemas
from labs.compute.api.hosts import is_uuid
from labs.compute.api.routes import views
from labs.compute.api.service import ComputeService

#: Before 2.53 a service is changed with ``PUT /os-services/<action>``:
#: action -> (the changes it makes, the body field it needs).
LEGACY_ACTIONS: dict[str, tuple[dict[str, Any], str | None]] = {
    "enable": ({"status": "enabled"}, None),
    "disable": ({"status": "disabled"}, None),
    "disable-log-reason": ({"status": "disabled"}, "disabled_reason"),
    "force-down": ({}, "forced_down"),
}


def checked_id(call: Call, value: str, not_found: str | None = None) -> str:
    """A uuid from 2.53 (400 otherwise); an integer before (404 ``not_found`` or 400)."""
    if call.at_least(2, 53):
        if not is_uuid(value):
            raise BadRequest(f"Invalid uuid {value}")
    elif not is_digits(value):
        if not_found:
            raise NotFound(not_found)
        raise BadRequest("Invalid input received: id must be an integer")
    return value

#: The query parameters of the hypervisor lists.
HYPERVISOR_FILTERS = {**PAGING, **query_strings("hypervisor_hostname_pattern", "with_servers")}


def flag(call: Call, name: str) -> bool:
    raw = call.query.get(name)
    return yes_no(raw, yes=schemas.TRUE_STRINGS, invalid=lambda: BadRequest(
        f"Invalid input for query parameters {name}. Value: {str(raw).lower()}."))


def register(api: Api, service: ComputeService) -> None:
    hosts = service.hosts
    max_limit = service.options.max_list_limit

    # -- services ------------------------------------------------------------------
    @api.get("/v2.1/os-services", query=query_strings("host", "binary"))
    def list_services(call: Call) -> dict[str, Any]:
        """Compute services (filters: host, binary) and whether they are up."""
        call.enforce("compute:services")
        rows = hosts.list_services(call.query.get("host"), call.query.get("binary"))
        return {"services": [views.service(call, r) for r in rows]}

    @api.put("/v2.1/os-services/{service_id}", schema=schemas.OBJECT)
    def update_service(call: Call) -> dict[str, Any]:
        """Enable, disable or force down an agent's service: by uuid from 2.53, before
        that by ``host`` and ``binary`` with the action in the path."""
        call.enforce("compute:services")
        body = schemas.check(call.body, schemas.SERVICE_UPDATE, call.version)
        if call.at_least(2, 53):
            changes = dict(body)
            if "forced_down" in changes:
                changes["forced_down"] = schemas.boolean(changes["forced_down"])
            view = hosts.update_service(checked_id(call, call.params["service_id"]),
                                        changes)
            return {"service": views.service(call, view)}
        return legacy_update(call, body)

    def legacy_update(call: Call, body: dict[str, Any]) -> dict[str, Any]:
        action = call.params["service_id"]
        if action not in LEGACY_ACTIONS or (action == "force-down"
                                            and not call.at_least(2, 11)):
            raise NotFound("Unknown action")
        changes, needed = LEGACY_ACTIONS[action]
        if needed is not None and needed not in body:
            raise BadRequest(f"Missing {needed.replace('_', ' ')} field")
        changes = dict(changes)
        if needed == "forced_down":
            changes["forced_down"] = schemas.boolean(body["forced_down"])
        elif needed:
            changes["disabled_reason"] = body[needed]
        hosts.update_by_host(body["host"], body["binary"], changes)
        reply: dict[str, Any] = {"host": body["host"], "binary": body["binary"]}
        if "status" in changes:
            reply["status"] = changes["status"]
            if changes.get("disabled_reason"):
                reply["disabled_reason"] = changes["disabled_reason"]
        else:
            reply["forced_down"] = changes["forced_down"]
        return {"service": reply}

    @api.delete("/v2.1/os-services/{service_id}")
    def delete_service(call: Call) -> None:
        """Forget a service whose host runs no servers (409 otherwise)."""
        call.enforce("compute:services")
        hosts.delete_service(checked_id(call, call.params["service_id"]))

    # -- hypervisors ---------------------------------------------------------------
    def hypervisors(call: Call, detail: bool) -> dict[str, Any]:
        call.enforce("compute:hypervisors")
        paged = call.at_least(2, 33)
        pattern = call.query.get("hypervisor_hostname_pattern") if call.at_least(2, 53) else None
        if pattern is not None and ("limit" in call.query or "marker" in call.query):
            raise BadRequest("Paging over hypervisors with the hypervisor_hostname_pattern "
                             "query parameter is not supported.")
        rows = hosts.list_hypervisors(
            pattern=pattern, limit=views.page_limit(call, max_limit) if paged else None,
            marker=call.query.get("marker") if paged else None,
            with_servers=call.at_least(2, 53) and flag(call, "with_servers"))
        body: dict[str, Any] = {"hypervisors": [views.hypervisor(call, r, detail)
                                                for r in rows]}
        if paged and pattern is None:
            last = str(views.resource_id(call, rows[-1].node.id)) if rows else None
            more = views.next_links(call, "os-hypervisors/detail" if detail
                                    else "os-hypervisors", len(rows), last, max_limit)
            if more:
                body["hypervisors_links"] = more
        return body

    @api.get("/v2.1/os-hypervisors", query=HYPERVISOR_FILTERS)
    def list_hypervisors(call: Call) -> dict[str, Any]:
        """Hypervisors: id, hostname, state, status."""
        return hypervisors(call, detail=False)

    @api.get("/v2.1/os-hypervisors/detail", query=HYPERVISOR_FILTERS)
    def list_hypervisors_detail(call: Call) -> dict[str, Any]:
        """Hypervisors in full (before 2.88 with what is in use on them)."""
        return hypervisors(call, detail=True)

    @api.get("/v2.1/os-hypervisors/statistics")
    def hypervisor_statistics(call: Call) -> dict[str, Any]:
        """Totals over all hypervisors (gone at 2.88)."""
        if call.at_least(2, 88):
            raise NotFound("The resource could not be found.")
        call.enforce("compute:hypervisors")
        return {"hypervisor_statistics": hosts.statistics()}

    @api.get("/v2.1/os-hypervisors/{hypervisor_id}")
    def show_hypervisor(call: Call) -> dict[str, Any]:
        """One hypervisor (``with_servers`` from 2.53)."""
        call.enforce("compute:hypervisors")
        hypervisor_id = call.params["hypervisor_id"]
        checked_id(call, hypervisor_id,
                   f"Hypervisor with ID '{hypervisor_id}' could not be found.")
        view = hosts.get_hypervisor(hypervisor_id,
                                    call.at_least(2, 53) and flag(call, "with_servers"))
        return {"hypervisor": views.hypervisor(call, view, detail=True)}

    # -- availability zones --------------------------------------------------------
    @api.get("/v2.1/os-availability-zone")
    def list_zones(call: Call) -> dict[str, Any]:
        """Availability zones and whether they take servers."""
        call.enforce("compute:availability_zones")
        return {"availabilityZoneInfo": [views.zone(z, False) for z in hosts.zones()]}

    @api.get("/v2.1/os-availability-zone/detail")
    def list_zones_detail(call: Call) -> dict[str, Any]:
        """Zones with their hosts and services (admin)."""
        call.enforce("compute:availability_zones:detail")
        return {"availabilityZoneInfo": [views.zone(z, True) for z in hosts.zones()]}
