"""The server actions ``shelve``, ``shelveOffload``, ``unshelve``, ``createBackup`` and
``trigger_crash_dump`` (see labs.compute.api.server_shelve)."""

from __future__ import annotations

from typing import Any

from labs.common.errors import BadRequest
from labs.common.http import Call, Reply
from labs.compute.api.server_shelve import UNSET, Unshelve
from labs.compute.api.service import ComputeService


def unshelve_target(call: Call, args: dict[str, Any] | None) -> Unshelve:
    """Nova's body by microversion: none before 2.77, a zone from 2.77, a zone or null
    and a host (admins) from 2.91."""
    args = args or {}
    if args and not call.at_least(2, 77):
        raise BadRequest("Invalid input for field/attribute unshelve: the body must be "
                         "null before microversion 2.77.")
    if "host" in args and not call.at_least(2, 91):
        raise BadRequest("Invalid input for field/attribute unshelve: 'host' needs "
                         "microversion 2.91.")
    zone = args.get("availability_zone", UNSET)
    if zone is None and not call.at_least(2, 91):
        raise BadRequest("Invalid input for field/attribute availability_zone: None is "
                         "not of type 'string' (null needs microversion 2.91).")
    if "host" in args:
        call.enforce("compute:servers:unshelve_to_host")
    return Unshelve(zone=zone, host=args.get("host"))


def server_action(service: ComputeService, call: Call, server_id: str, name: str,
                  args: Any) -> Reply | None:
    shelving = service.shelving
    if name == "shelve":
        shelving.shelve(call.enforce("compute:servers:shelve"), server_id)
    elif name == "shelveOffload":
        shelving.shelve_offload(call.enforce("compute:servers:shelve_offload"), server_id)
    elif name == "unshelve":
        ctx = call.enforce("compute:servers:unshelve")
        shelving.unshelve(ctx, server_id, unshelve_target(call, args))
    elif name == "createBackup":
        ctx = call.enforce("compute:servers:create_backup")
        image_id = shelving.create_backup(ctx, server_id, args["name"], args["backup_type"],
                                          int(args["rotation"]), args.get("metadata") or {})
        if call.at_least(2, 45):
            return Reply({"image_id": image_id}, status=202)
        if int(args["rotation"]) == 0:  # as Nova: no backup stays to point at
            return Reply(None, status=202)
        url = service.servers.images.upload_url() or ""
        return Reply(None, status=202, headers={"Location": f"{url}/v2/images/{image_id}"})
    elif name == "trigger_crash_dump":
        if not call.at_least(2, 17):
            raise BadRequest("There is no such action: trigger_crash_dump")
        shelving.trigger_crash_dump(call.enforce("compute:servers:trigger_crash_dump"),
                                    server_id)
    return None
