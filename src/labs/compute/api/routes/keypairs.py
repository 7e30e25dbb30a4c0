"""Key pairs (``os-keypairs``): a user's public keys, by name."""

from __future__ import annotations

from typing import Any

from labs.common.context import RequestContext
from labs.common.http import PAGING, Api, Call, Reply, query_strings
from labs.compute.api import schemas
from labs.compute.api.keypairs import SSH
from labs.compute.api.routes import views
from labs.compute.api.service import ComputeService


def owner(call: Call, rule: str, wanted: str | None = None) -> tuple[RequestContext, str]:
    """The caller, and whose key pairs the call is about: an admin may name another
    user (2.10, ``?user_id=`` or in the body)."""
    ctx = call.enforce(rule)
    if call.at_least(2, 10):
        wanted = wanted or call.query.get("user_id")
    if wanted and wanted != ctx.user_id:
        call.enforce("compute:keypairs:other_user")
    return ctx, wanted or ctx.user_id


def register(api: Api, service: ComputeService) -> None:
    keypairs = service.keypairs
    max_limit = service.options.max_list_limit

    @api.get("/v2.1/os-keypairs", query={**PAGING, **query_strings("user_id")})
    def list_keypairs(call: Call) -> dict[str, Any]:
        """A user's key pairs (paged by name from 2.35)."""
        _ctx, user_id = owner(call, "compute:keypairs")
        paged = call.at_least(2, 35)
        rows = keypairs.list_keypairs(user_id, views.page_limit(call, max_limit) if paged else None,
                                      call.query.get("marker") if paged else None)
        body: dict[str, Any] = {"keypairs": [views.keypair_brief(call, r) for r in rows]}
        if paged:
            more = views.next_links(call, "os-keypairs", len(rows),
                                    rows[-1].name if rows else None, max_limit)
            if more:
                body["keypairs_links"] = more
        return body

    @api.post("/v2.1/os-keypairs", schema=schemas.OBJECT)
    def create_keypair(call: Call) -> Reply:
        """Import a public key, or (before 2.92) have one made: the private key then
        comes back this once."""
        call.enforce("compute:keypairs:manage")  # 403 before 400
        body = schemas.check(call.body, schemas.KEYPAIR_CREATE, call.version)["keypair"]
        ctx, user_id = owner(call, "compute:keypairs:manage", body.get("user_id"))
        row, private_key = keypairs.create(ctx, user_id, body["name"],
                                           body.get("type", SSH), body.get("public_key"))
        return Reply({"keypair": views.keypair_created(call, row, private_key)},
                     status=201 if call.at_least(2, 2) else 200)

    @api.get("/v2.1/os-keypairs/{name}")
    def show_keypair(call: Call) -> dict[str, Any]:
        """One key pair."""
        _ctx, user_id = owner(call, "compute:keypairs")
        return {"keypair": views.keypair(call, keypairs.get(user_id, call.params["name"]))}

    @api.delete("/v2.1/os-keypairs/{name}")
    def delete_keypair(call: Call) -> Reply:
        """Delete a key pair (servers made with it keep the key)."""
        _ctx, user_id = owner(call, "compute:keypairs:manage")
        keypairs.delete(user_id, call.params["name"])
        return Reply(status=204 if call.at_least(2, 2) else 202)
