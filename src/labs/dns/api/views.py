"""How zones, recordsets, name servers, TLDs and blacklists look on the wire (Designate v2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labs.common.http import Call
from labs.dns import models
from labs.dns.recordsets import RecordSetView

Body = dict[str, Any]


def timestamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


def zone(call: Call, row: models.Zone) -> Body:
    return {
        "id": row.id, "pool_id": row.pool_id, "project_id": row.project_id,
        "name": row.name, "email": row.email, "description": row.description,
        "ttl": row.ttl, "serial": row.serial, "status": row.status, "action": row.action,
        "version": row.version, "type": row.type, "masters": list(row.masters or []),
        "attributes": dict(row.attributes or {}), "shared": False, "transferred_at": None,
        "created_at": timestamp(row.created_at), "updated_at": timestamp(row.updated_at),
        "links": {"self": call.url(f"/v2/zones/{row.id}")},
    }


def recordset(call: Call, view: RecordSetView) -> Body:
    row = view.row
    return {
        "id": row.id, "zone_id": row.zone_id, "zone_name": view.zone_name,
        "project_id": row.project_id, "name": row.name, "type": row.type, "ttl": row.ttl,
        "records": list(view.records), "description": row.description,
        "status": view.status or row.status, "action": view.action or row.action,
        "version": row.version, "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "links": {"self": call.url(f"/v2/zones/{row.zone_id}/recordsets/{row.id}")},
    }


def tld(call: Call, row: models.Tld) -> Body:
    return {"id": row.id, "name": row.name, "description": row.description,
            "created_at": timestamp(row.created_at), "updated_at": timestamp(row.updated_at),
            "links": {"self": call.url(f"/v2/tlds/{row.id}")}}


def blacklist(call: Call, row: models.Blacklist) -> Body:
    return {"id": row.id, "pattern": row.pattern, "description": row.description,
            "created_at": timestamp(row.created_at), "updated_at": timestamp(row.updated_at),
            "links": {"self": call.url(f"/v2/blacklists/{row.id}")}}


def tsigkey(call: Call, row: models.TsigKey) -> Body:
    return {"id": row.id, "name": row.name, "algorithm": row.algorithm, "secret": row.secret,
            "scope": row.scope, "resource_id": row.resource_id,
            "created_at": timestamp(row.created_at), "updated_at": timestamp(row.updated_at),
            "links": {"self": call.url(f"/v2/tsigkeys/{row.id}")}}


def share(call: Call, row: models.ZoneShare) -> Body:
    return {"id": row.id, "zone_id": row.zone_id, "project_id": row.project_id,
            "target_project_id": row.target_project_id,
            "created_at": timestamp(row.created_at), "updated_at": timestamp(row.updated_at),
            "links": {"self": call.url(f"/v2/zones/{row.zone_id}/shares/{row.id}"),
                      "zone": call.url(f"/v2/zones/{row.zone_id}")}}
