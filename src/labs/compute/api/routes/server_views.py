"""How servers look on the wire, per microversion: no field before its version."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from labs.common.http import PAGING, Call, query_strings
from labs.compute import models, states
from labs.compute.api.routes.views import links, timestamp

Body = dict[str, Any]
#: Statuses that carry ``progress`` and ``fault``, as Nova.
PROGRESS = frozenset({"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"})
FAULTED = frozenset({"ERROR", "DELETED"})
#: The query parameters of the server lists.
SERVER_FILTERS = {**PAGING, **query_strings(
    "name", "status", "image", "flavor", "changes-since", "host", "project_id", "tenant_id",
    "all_tenants", "deleted", "tags", "key_name", "availability_zone", "locked",
    "access_ip_v4", "access_ip_v6")}


def stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def brief(call: Call, row: models.Instance) -> Body:
    return {"id": row.id, "name": row.name, "links": links(call, "servers", row.id)}


def host_id(row: models.Instance) -> str:
    if not row.host:
        return ""
    return hashlib.sha224((row.project_id + row.host).encode()).hexdigest()


def _flavor(call: Call, row: models.Instance) -> Body:
    flavor = row.flavor or {}
    if not call.at_least(2, 47):
        return {"id": flavor.get("id", ""), "links": [
            {"rel": "bookmark", "href": f"{call.base_url()}/flavors/{flavor.get('id', '')}"}]}
    return {"vcpus": flavor.get("vcpus", row.vcpus), "ram": flavor.get("ram", row.memory_mb),
            "disk": flavor.get("disk", 0), "ephemeral": flavor.get("ephemeral", 0),
            "swap": flavor.get("swap", 0), "original_name": flavor.get("name", ""),
            # Nova's default policy shows the extra specs to everyone who sees the server
            "extra_specs": dict(flavor.get("extra_specs") or {})}


def detail(call: Call, row: models.Instance, *, admin: bool, host_up: bool | None = None,
           groups: list[str] | None = None) -> Body:
    """The full server; ``groups`` only for a single server's show (2.71)."""
    status = "DELETED" if row.deleted else states.status_of(row.vm_state, row.task_state)
    body: Body = {
        "id": row.id, "name": row.name, "status": status, "tenant_id": row.project_id,
        "user_id": row.user_id, "metadata": dict(row.metadata_ or {}), "hostId": host_id(row),
        "image": _image(call, row), "flavor": _flavor(call, row),
        "created": stamp(row.created_at),
        "updated": stamp(row.updated_at), "addresses": dict(row.addresses or {}),
        "accessIPv4": row.access_ip_v4 or "", "accessIPv6": row.access_ip_v6 or "",
        "links": links(call, "servers", row.id),
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": row.availability_zone or "",
        "config_drive": "True" if row.config_drive else "", "key_name": row.key_name,
        "OS-SRV-USG:launched_at": timestamp(row.launched_at),
        "OS-SRV-USG:terminated_at": timestamp(row.terminated_at),
        "OS-EXT-STS:task_state": row.task_state,
        "OS-EXT-STS:vm_state": row.vm_state,
        "OS-EXT-STS:power_state": row.power_state,
        "os-extended-volumes:volumes_attached": [],
        "security_groups": [{"name": name} for name in row.security_groups or ["default"]],
    }
    if status in PROGRESS:
        body["progress"] = row.progress
    if status in FAULTED and row.fault:
        body["fault"] = _fault(row.fault, admin)
    if admin:
        body.update(_host_attributes(call, row))
    body.update(_later_fields(call, row, admin=admin, host_up=host_up, groups=groups))
    return body


def _image(call: Call, row: models.Instance) -> Body:
    image: Body = {"id": row.image_ref,
                   "links": [{"rel": "bookmark",
                              "href": f"{call.base_url()}/images/{row.image_ref}"}]}
    if call.at_least(2, 98):
        image["properties"] = {}
    return image


def _fault(fault: Body, admin: bool) -> Body:
    """What went wrong; the details of an internal error only for admins (as Nova)."""
    shown: Body = {k: fault[k] for k in ("code", "created", "message") if k in fault}
    if admin or fault.get("code") != 500:
        shown["details"] = fault.get("details", "")
    return shown


def _host_attributes(call: Call, row: models.Instance) -> Body:
    """``OS-EXT-SRV-ATTR``: where and how the server runs, for admins."""
    body: Body = {"OS-EXT-SRV-ATTR:host": row.host,
                  "OS-EXT-SRV-ATTR:instance_name": f"instance-{row.id[:8]}",
                  "OS-EXT-SRV-ATTR:hypervisor_hostname": row.node}
    if call.at_least(2, 3):
        body.update({"OS-EXT-SRV-ATTR:reservation_id": row.reservation_id,
                     "OS-EXT-SRV-ATTR:launch_index": row.launch_index,
                     "OS-EXT-SRV-ATTR:hostname": row.hostname,
                     "OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:ramdisk_id": "",
                     "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                     "OS-EXT-SRV-ATTR:user_data": row.user_data})
    return body


def _later_fields(call: Call, row: models.Instance, *, admin: bool, host_up: bool | None,
                  groups: list[str] | None) -> Body:
    """The fields microversions 2.9 and later added, each from its version on."""
    body: Body = {}
    if call.at_least(2, 9):
        body["locked"] = row.locked
    if call.at_least(2, 16) and admin:
        body["host_status"] = "" if not row.host else ("UP" if host_up else "DOWN")
    if call.at_least(2, 19):
        body["description"] = row.description
    if call.at_least(2, 26):
        body["tags"] = list(row.tags or [])
    if call.at_least(2, 63):
        body["trusted_image_certificates"] = None
    if call.at_least(2, 71) and groups is not None:
        body["server_groups"] = groups
    if call.at_least(2, 73):
        body["locked_reason"] = row.locked_reason
    if call.at_least(2, 90):
        body["OS-EXT-SRV-ATTR:hostname"] = row.hostname
    if call.at_least(2, 96):
        body["pinned_availability_zone"] = row.requested_zone
    if call.at_least(2, 100):
        body["scheduler_hints"] = {
            key: value if isinstance(value, list) else [value]
            for key, value in (row.scheduler_hints or {}).items()}
    return body


def created(call: Call, row: models.Instance, admin_pass: str) -> Body:
    return {"id": row.id, "links": links(call, "servers", row.id),
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": [{"name": name} for name in row.security_groups or ["default"]],
            "adminPass": admin_pass}


def action(call: Call, row: models.InstanceAction) -> Body:
    body: Body = {"action": row.action, "instance_uuid": row.instance_id,
                  "message": row.message, "project_id": row.project_id,
                  "request_id": row.request_id, "start_time": timestamp(row.start_time),
                  "user_id": row.user_id}
    if call.at_least(2, 58):
        body["updated_at"] = timestamp(row.updated_at)
    return body


def event(call: Call, row: models.InstanceActionEvent, admin: bool) -> Body:
    body: Body = {"event": row.event, "start_time": timestamp(row.start_time),
                  "finish_time": timestamp(row.finish_time), "result": row.result}
    if admin:
        body["traceback"] = row.details if row.result == "Error" else None
    if call.at_least(2, 62):
        body["hostId"] = hashlib.sha224((row.host or "").encode()).hexdigest() \
            if row.host else ""
        if admin:
            body["host"] = row.host
    if call.at_least(2, 84):
        body["details"] = row.details if row.result == "Error" else None
    return body
