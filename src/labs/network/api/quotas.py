"""Quotas (``/v2.0/quotas``, Neutron's ``quotas`` and ``quota_details`` extensions): the
network's limits per project (labs.network.quotas, which compute's legacy quota keys
read too). A member reads its own project's; only admins read others' and change them.
"""

from __future__ import annotations

from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import BadRequest
from labs.common.http import Api, Call
from labs.network.quotas import RESOURCES
from labs.network.service import NetworkService

_LIMIT = {"type": ["integer", "string"]}
UPDATE = {"type": "object", "required": ["quota"], "additionalProperties": False,
          "properties": {"quota": {"type": "object", "additionalProperties": False,
                                   "properties": dict.fromkeys(RESOURCES, _LIMIT)}}}


def limit_of(resource: str, value: int | str) -> int:
    """A limit as Neutron takes it: an integer (or its digits) of -1 or more."""
    text = str(value).strip()
    digits = text.removeprefix("-")
    if isinstance(value, bool) or not digits.isascii() or not digits.isdigit() \
            or len(digits) > 10 or int(text) < -1 or int(text) > 2**31 - 1:
        raise BadRequest(f"Invalid input for {resource}. Reason: '{value}' is not an "
                         "integer of -1 or more.")
    return int(text)


def register(api: Api, network: NetworkService) -> None:
    quotas = network.quotas

    def project_of(call: Call) -> tuple[RequestContext, str]:
        """The project in the path, which the caller may read (its own, or any for an
        admin; 403 otherwise, as Neutron answers)."""
        ctx = call.enforce("network:get_quota")
        project_id = call.params["project_id"]
        if project_id != ctx.project_id:
            call.enforce("network:all_projects")
        return ctx, project_id

    @api.get("/v2.0/quotas")
    def list_quotas(call: Call) -> dict[str, Any]:
        """The limits of every project an admin set limits for."""
        call.enforce("network:get_quota")
        call.enforce("network:all_projects")
        with network.db.reading() as tx:
            return {"quotas": [{**quotas.limits(tx, p), "project_id": p, "tenant_id": p}
                               for p in quotas.projects(tx)]}

    @api.get("/v2.0/quotas/{project_id}")
    def show_quota(call: Call) -> dict[str, Any]:
        """A project's limits (-1: none)."""
        _ctx, project_id = project_of(call)
        with network.db.reading() as tx:
            return {"quota": quotas.limits(tx, project_id)}

    @api.get("/v2.0/quotas/{project_id}/default")
    def show_default_quota(call: Call) -> dict[str, Any]:
        """The limits a project has unless an admin set its own."""
        project_of(call)
        return {"quota": quotas.defaults()}

    @api.get("/v2.0/quotas/{project_id}/details")
    def show_quota_details(call: Call) -> dict[str, Any]:
        """A project's limits with what it uses (Labs reserves nothing ahead)."""
        _ctx, project_id = project_of(call)
        with network.db.reading() as tx:
            limits, used = quotas.limits(tx, project_id), quotas.used(tx, project_id)
        return {"quota": {name: {"limit": limit, "used": used[name], "reserved": 0}
                          for name, limit in limits.items()}}

    @api.put("/v2.0/quotas/{project_id}", schema=UPDATE)
    def update_quota(call: Call) -> dict[str, Any]:
        """Set some of a project's limits."""
        call.enforce("network:update_quota")
        changes = {k: limit_of(k, v) for k, v in call.body["quota"].items()}
        return {"quota": quotas.update(call.params["project_id"], changes)}

    @api.delete("/v2.0/quotas/{project_id}")
    def delete_quota(call: Call) -> None:
        """A project's limits back to the defaults."""
        call.enforce("network:delete_quota")
        quotas.reset(call.params["project_id"])
