"""How zones, recordsets, name servers, TLDs and blacklists look on the wire (Designate v2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labs.common.http import Call
from labs.dns import models
from labs.dns.floating import FloatingPtr
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
        "attributes": dict(row.attributes or {}), "shared": False,
        "transferred_at": timestamp(row.transferred_at),
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


def pool(call: Call, pool_id: str, nameservers: list[str], created: datetime | None) -> Body:
    return {"id": pool_id, "name": "default", "description": "Default Pool",
            "attributes": {}, "project_id": None,
            "ns_records": [{"hostname": name, "priority": i + 1}
                           for i, name in enumerate(nameservers)],
            "created_at": timestamp(created), "updated_at": None,
            "links": {"self": call.url(f"/v2/pools/{pool_id}")}}


def zone_export(call: Call, row: models.ZoneExport) -> Body:
    links = {"self": call.url(f"/v2/zones/tasks/exports/{row.id}")}
    if row.status == "COMPLETE":
        links["export"] = call.url(f"/v2/zones/tasks/exports/{row.id}/export")
    return {"id": row.id, "zone_id": row.zone_id, "project_id": row.project_id,
            "status": row.status, "message": row.message, "version": row.version,
            "location": (f"designate://v2/zones/tasks/exports/{row.id}/export"
                         if row.status == "COMPLETE" else None),
            "created_at": timestamp(row.created_at), "updated_at": timestamp(row.updated_at),
            "links": links}


def zone_import(call: Call, row: models.ZoneImport) -> Body:
    links = {"self": call.url(f"/v2/zones/tasks/imports/{row.id}")}
    if row.zone_id is not None:
        links["href"] = call.url(f"/v2/zones/{row.zone_id}")
    return {"id": row.id, "zone_id": row.zone_id, "project_id": row.project_id,
            "status": row.status, "message": row.message, "version": row.version,
            "created_at": timestamp(row.created_at), "updated_at": timestamp(row.updated_at),
            "links": links}


def transfer_request(call: Call, row: models.TransferRequest, show_key: bool) -> Body:
    return {"id": row.id, "zone_id": row.zone_id, "zone_name": row.zone_name,
            "project_id": row.project_id, "target_project_id": row.target_project_id,
            "key": row.key if show_key else None, "description": row.description,
            "status": row.status, "created_at": timestamp(row.created_at),
            "updated_at": timestamp(row.updated_at),
            "links": {"self": call.url(f"/v2/zones/tasks/transfer_requests/{row.id}")}}


def transfer_accept(call: Call, row: models.TransferAccept) -> Body:
    return {"id": row.id, "zone_id": row.zone_id, "project_id": row.project_id,
            "zone_transfer_request_id": row.transfer_request_id, "key": row.key,
            "status": row.status, "created_at": timestamp(row.created_at),
            "updated_at": timestamp(row.updated_at),
            "links": {"self": call.url(f"/v2/zones/tasks/transfer_accepts/{row.id}"),
                      "zone": call.url(f"/v2/zones/{row.zone_id}")}}


def service_status(call: Call, row: models.ServiceStatus, status: str) -> Body:
    return {"id": row.id, "hostname": row.hostname, "service_name": row.service_name,
            "status": status, "stats": dict(row.stats or {}),
            "capabilities": dict(row.capabilities or {}),
            "heartbeated_at": timestamp(row.heartbeated_at),
            "created_at": timestamp(row.created_at), "updated_at": timestamp(row.updated_at),
            "links": {"self": call.url(f"/v2/service_statuses/{row.id}")}}


def floating_ptr(call: Call, ptr: FloatingPtr) -> Body:
    key = f"{ptr.region}:{ptr.fip.id}"
    return {"id": key, "address": ptr.fip.address, "ptrdname": ptr.ptrdname,
            "ttl": ptr.ttl, "description": ptr.description, "status": ptr.status,
            "action": ptr.action,
            "links": {"self": call.url(f"/v2/reverse/floatingips/{key}")}}


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
