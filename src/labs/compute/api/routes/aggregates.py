"""Host aggregates, and the deprecated ``os-hosts`` view of the compute services.

Labs groups hosts by availability zone only (each agent's ``zone`` setting): it keeps
no host aggregates, so the list is empty and every aggregate id is unknown, as Nova
answers for an aggregate that does not exist.
"""

from __future__ import annotations

from typing import Any

from labs.common.errors import BadRequest, NotFound
from labs.common.http import Api, Call, query_strings
from labs.common.numbers import is_digits
from labs.compute.api import schemas
from labs.compute.api.service import ComputeService
from labs.compute.rpcapi import AGENT_BINARY

#: Services Nova leaves out of ``os-hosts`` (Labs' API runs no service rows).
API_BINARIES = ("nova-osapi_compute", "nova-metadata")


def no_aggregate(call: Call) -> None:
    """Nova's answer for an aggregate id: 400 unless an integer, then 404."""
    call.enforce("compute:aggregates")
    aggregate_id = call.params["aggregate_id"]
    if not is_digits(aggregate_id):
        raise BadRequest("Invalid input received: id must be an integer")
    raise NotFound(f"Aggregate {aggregate_id} could not be found.")


def register(api: Api, service: ComputeService) -> None:
    hosts = service.hosts

    @api.get("/v2.1/os-aggregates")
    def list_aggregates(call: Call) -> dict[str, Any]:
        """Host aggregates: Labs has none (``hypervisor show`` asks for them)."""
        call.enforce("compute:aggregates")
        return {"aggregates": []}

    @api.get("/v2.1/os-aggregates/{aggregate_id}")
    def show_aggregate(call: Call) -> None:
        """One aggregate: never found (see the module's docstring)."""
        no_aggregate(call)

    @api.put("/v2.1/os-aggregates/{aggregate_id}", schema=schemas.OBJECT)
    def update_aggregate(call: Call) -> None:
        """Rename an aggregate or move it to a zone: never found."""
        no_aggregate(call)

    @api.delete("/v2.1/os-aggregates/{aggregate_id}")
    def delete_aggregate(call: Call) -> None:
        """Delete an aggregate: never found."""
        no_aggregate(call)

    @api.post("/v2.1/os-aggregates/{aggregate_id}/action", schema=schemas.OBJECT)
    def aggregate_action(call: Call) -> None:
        """add_host, remove_host, set_metadata: never found."""
        no_aggregate(call)

    # -- os-hosts (deprecated: gone at 2.43) ----------------------------------------
    def before_2_43(call: Call) -> None:
        if call.at_least(2, 43):
            raise NotFound("The resource could not be found.")
        call.enforce("compute:hosts")

    @api.get("/v2.1/os-hosts", query=query_strings("zone"))
    def list_hosts(call: Call) -> dict[str, Any]:
        """Hosts of the enabled services with their topic and zone (filter: zone)."""
        before_2_43(call)
        zone = call.query.get("zone")
        rows = []
        for view in hosts.list_services():
            row = view.row
            if row.disabled or row.binary in API_BINARIES:
                continue
            row_zone = row.availability_zone if row.binary == AGENT_BINARY else "internal"
            if zone and row_zone != zone:
                continue
            rows.append({"host_name": row.host, "service": row.binary.removeprefix("nova-"),
                         "zone": row_zone})
        return {"hosts": rows}

    @api.get("/v2.1/os-hosts/{host_name}")
    def show_host(call: Call) -> dict[str, Any]:
        """A compute host's totals, use and use per project."""
        before_2_43(call)
        return {"host": hosts.host_usage(call.params["host_name"])}
