"""``os-simple-tenant-usage``: usage of every project (admins) or of one, for a period
(``start`` and ``end``, by default the time of the request: an empty period, as Nova)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from labs.common.errors import BadRequest
from labs.common.http import Api, Call, query_strings
from labs.compute.api.routes.views import timestamp
from labs.compute.api.service import ComputeService
from labs.compute.api.usage import ProjectUsage
from labs.compute.payloads import utcnow

Body = dict[str, Any]
QUERY = query_strings("start", "end", "detailed")
FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")


def moment(value: str | None) -> datetime:
    """Nova's ``_parse_datetime``: its three formats (a zone is taken off), else 400."""
    if not value:
        return utcnow()
    for form in FORMATS:
        try:
            parsed = datetime.strptime(value, form)
        except ValueError:
            continue
        return parsed
    try:  # what openstacksdk sends: isoformat(), with a zone or without
        parsed = datetime.fromisoformat(value)
        # overflow: a zone moving the moment past year 1 or 9999
        return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    except (ValueError, OverflowError):
        raise BadRequest("Datetime is in invalid format") from None


def period(call: Call) -> tuple[datetime, datetime]:
    start, stop = moment(call.query.get("start")), moment(call.query.get("end"))
    if not start < stop:
        raise BadRequest("Invalid start time. The start time cannot occur after the end "
                         "time.")
    return start, stop


def render(usage: ProjectUsage, detailed: bool) -> Body:
    body: Body = {
        "tenant_id": usage.project_id, "total_local_gb_usage": usage.total("local_gb"),
        "total_vcpus_usage": usage.total("vcpus"),
        "total_memory_mb_usage": usage.total("memory_mb"),
        "total_hours": usage.total("hours"), "start": timestamp(usage.start),
        "stop": timestamp(usage.stop)}
    if detailed:
        body["server_usages"] = [{
            "instance_id": s.instance_id, "name": s.name, "tenant_id": s.project_id,
            "hours": s.hours, "memory_mb": s.memory_mb, "local_gb": s.local_gb,
            "vcpus": s.vcpus, "flavor": s.flavor, "started_at": timestamp(s.started_at),
            "ended_at": timestamp(s.ended_at), "state": s.state, "uptime": s.uptime}
            for s in usage.servers]
    return body


def register(api: Api, service: ComputeService) -> None:
    usage = service.usage

    @api.get("/v2.1/os-simple-tenant-usage", query=QUERY)
    def list_usage(call: Call) -> Body:
        """Every project's usage in the period (admins; ``detailed=1``: per server)."""
        call.enforce("compute:usage:list")
        start, stop = period(call)
        detailed = call.query.get("detailed") == "1"
        return {"tenant_usages": [render(u, detailed) for u in usage.usage(start, stop)]}

    @api.get("/v2.1/os-simple-tenant-usage/{project_id}", query=QUERY)
    def show_usage(call: Call) -> Body:
        """One project's usage in the period, per server ({} when it has none)."""
        ctx = call.enforce("compute:usage:show")
        project_id = call.params["project_id"]
        if project_id != ctx.project_id:
            call.enforce("compute:usage:other_project")
        start, stop = period(call)
        found = usage.usage(start, stop, project_id)
        return {"tenant_usage": render(found[0], True) if found else {}}
