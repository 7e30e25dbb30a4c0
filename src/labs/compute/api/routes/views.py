"""How compute resources look on the wire, per microversion: no field before its version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labs.common.http import Call, next_page_query, read_limit
from labs.common.numbers import is_digits
from labs.compute import models
from labs.compute.api import schemas
from labs.compute.api.groups import GroupView
from labs.compute.api.hosts import HypervisorView, ServiceView, ZoneView, legacy_id
from labs.compute.api.limits import QuotaUsage

Body = dict[str, Any]


# -- shared ------------------------------------------------------------------------------

def links(call: Call, kind: str, item_id: str) -> list[Body]:
    """``self`` (versioned) and ``bookmark`` (unversioned) links, as Nova's."""
    base = call.base_url()
    return [{"rel": "self", "href": f"{base}/v2.1/{kind}/{item_id}"},
            {"rel": "bookmark", "href": f"{base}/{kind}/{item_id}"}]


#: The largest number a query parameter may carry: the databases' signed 32-bit INT
#: (larger ones overflowed SQLite's integers and MariaDB's LIMIT into 500s).
MAX_QUERY_INT = 2**31 - 1

def page_limit(call: Call, max_limit: int) -> int:
    """The ``?limit=`` asked for: none, 0 or more than ``max_limit`` mean ``max_limit``."""
    return read_limit(call.query.get("limit"), default=max_limit, maximum=max_limit,
                      clamp=True, invalid="Invalid input received: limit must be an integer >= 0")


def next_links(call: Call, collection: str, count: int, last_id: str | None,
               max_limit: int) -> list[Body]:
    """Nova's ``*_links``: a ``next`` link when the page is full, else nothing."""
    limit = call.query.get("limit")
    page = min(int(limit), max_limit) if limit and is_digits(limit) else max_limit
    if not page or count != page or last_id is None:
        return []
    query = next_page_query(sorted(call.query.items()), last_id)
    return [{"rel": "next", "href": f"{call.base_url()}/v2.1/{collection}?{query}"}]


def timestamp(moment: datetime | None) -> str | None:
    """Nova's times in these APIs: ``2012-10-29T13:42:05.000000``, no zone."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


# -- flavors -----------------------------------------------------------------------------

def flavor_brief(call: Call, row: models.Flavor) -> Body:
    body: Body = {"id": row.id, "name": row.name, "links": links(call, "flavors", row.id)}
    if call.at_least(2, 55):
        body["description"] = row.description
    return body


def flavor(call: Call, row: models.Flavor) -> Body:
    body: Body = {
        "id": row.id, "name": row.name, "ram": row.ram, "disk": row.disk,
        # 0 was "" before 2.75
        "swap": row.swap if call.at_least(2, 75) else (row.swap or ""),
        "OS-FLV-EXT-DATA:ephemeral": row.ephemeral, "OS-FLV-DISABLED:disabled": row.disabled,
        "vcpus": row.vcpus, "os-flavor-access:is_public": row.is_public,
        "rxtx_factor": row.rxtx_factor or "", "links": links(call, "flavors", row.id),
    }
    if call.at_least(2, 55):
        body["description"] = row.description
    if call.at_least(2, 61):
        body["extra_specs"] = dict(row.extra_specs or {})
    return body


def flavor_access(flavor_id: str, projects: list[str]) -> Body:
    return {"flavor_access": [{"flavor_id": flavor_id, "tenant_id": p} for p in projects]}


# -- key pairs ---------------------------------------------------------------------------

def _keypair(call: Call, row: models.Keypair) -> Body:
    body: Body = {"name": row.name, "public_key": row.public_key,
                  "fingerprint": row.fingerprint}
    if call.at_least(2, 2):
        body["type"] = row.type
    return body


def keypair_brief(call: Call, row: models.Keypair) -> Body:
    return {"keypair": _keypair(call, row)}


def keypair_created(call: Call, row: models.Keypair, private_key: str | None) -> Body:
    body = {**_keypair(call, row), "user_id": row.user_id}
    if private_key is not None:
        body["private_key"] = private_key
    return body


def keypair(call: Call, row: models.Keypair) -> Body:
    # the soft-delete fields Nova shows but never fills
    return {**_keypair(call, row), "user_id": row.user_id, "id": row.id,
            "created_at": timestamp(row.created_at), "updated_at": None, "deleted": False,
            "deleted_at": None}


# -- server groups -----------------------------------------------------------------------

def server_group(call: Call, view: GroupView) -> Body:
    row = view.row
    body: Body = {"id": row.id, "name": row.name}
    if call.at_least(2, 64):
        body.update(policy=row.policy, rules=dict(row.rules or {}))
    else:
        body.update(policies=[row.policy], metadata={})
    body["members"] = list(view.members)
    if call.at_least(2, 13):
        body.update(project_id=row.project_id, user_id=row.user_id)
    return body


# -- limits and quotas -------------------------------------------------------------------

#: Quota resource -> the names /limits shows its limit under.
LIMIT_NAMES = {
    "ram": ("maxTotalRAMSize",), "instances": ("maxTotalInstances",),
    "cores": ("maxTotalCores",), "key_pairs": ("maxTotalKeypairs",),
    "metadata_items": ("maxServerMeta", "maxImageMeta"),
    "injected_files": ("maxPersonality",),
    "injected_file_content_bytes": ("maxPersonalitySize",),
    "server_groups": ("maxServerGroups",), "server_group_members": ("maxServerGroupMembers",),
}
USED_NAMES = {"totalRAMUsed": "ram", "totalCoresUsed": "cores",
              "totalInstancesUsed": "instances", "totalServerGroupsUsed": "server_groups"}
#: Nova-network limits and use, shown before 2.36 (as Nova).
NETWORK_LIMIT_NAMES = {"maxTotalFloatingIps": "floating_ips",
                       "maxSecurityGroups": "security_groups",
                       "maxSecurityGroupRules": "security_group_rules"}
NETWORK_USED_NAMES = {"totalFloatingIpsUsed": "floating_ips",
                      "totalSecurityGroupsUsed": "security_groups"}


def limits(call: Call, usage: QuotaUsage) -> Body:
    absolute: Body = {}
    for resource, names in LIMIT_NAMES.items():
        if resource.startswith("injected") and call.at_least(2, 57):
            continue
        for name in names:
            if name != "maxImageMeta" or not call.at_least(2, 39):
                absolute[name] = usage.limits[resource]
    absolute.update({name: usage.in_use[r] for name, r in USED_NAMES.items()})
    if not call.at_least(2, 36):
        absolute.update({name: usage.limits[r] for name, r in NETWORK_LIMIT_NAMES.items()})
        absolute.update({name: usage.in_use[r] for name, r in NETWORK_USED_NAMES.items()})
    return {"limits": {"rate": [], "absolute": absolute}}


def _quota_names(call: Call) -> tuple[str, ...]:
    gone = (schemas.QUOTAS_GONE_236 if call.at_least(2, 36) else ()) + (
        schemas.QUOTAS_GONE_257 if call.at_least(2, 57) else ())
    return tuple(n for n in schemas.QUOTAS_V21 if n not in gone)


def quota_set(call: Call, project_id: str | None, values: dict[str, int]) -> Body:
    """``values`` per resource (-1 for those Labs does not limit: fixed IPs)."""
    body: Body = {"id": project_id} if project_id is not None else {}
    body.update({n: values.get(n, -1) for n in _quota_names(call)})
    return {"quota_set": body}


def quota_detail(call: Call, project_id: str, usage: QuotaUsage) -> Body:
    body: Body = {"id": project_id}
    for name in _quota_names(call):
        body[name] = {"in_use": usage.in_use.get(name, 0),
                      "limit": usage.limits.get(name, -1), "reserved": 0}
    return {"quota_set": body}


# -- services, hypervisors, zones --------------------------------------------------------

def resource_id(call: Call, row_id: str) -> str | int:
    """A service's or hypervisor's id: its uuid from 2.53, an integer before."""
    return row_id if call.at_least(2, 53) else legacy_id(row_id)


def service(call: Call, view: ServiceView) -> Body:
    row = view.row
    body: Body = {"id": resource_id(call, row.id), "binary": row.binary, "host": row.host,
                  "zone": row.availability_zone,
                  "status": "disabled" if row.disabled else "enabled",
                  "state": "up" if view.up else "down",
                  "updated_at": timestamp(row.updated_at or row.created_at),
                  "disabled_reason": row.disabled_reason}
    if call.at_least(2, 11):
        body["forced_down"] = row.forced_down
    return body


def hypervisor(call: Call, view: HypervisorView, detail: bool) -> Body:
    node, svc = view.node, view.service.row
    body: Body = {"id": resource_id(call, node.id), "hypervisor_hostname": node.hypervisor_hostname,
                  "state": "up" if view.service.up else "down",
                  "status": "disabled" if svc.disabled else "enabled"}
    if detail:
        body.update(hypervisor_type=node.hypervisor_type,
                    hypervisor_version=node.hypervisor_version, host_ip=node.host_ip,
                    service={"id": resource_id(call, svc.id), "host": node.host,
                             "disabled_reason": svc.disabled_reason})
        if call.at_least(2, 88):
            body["uptime"] = None
        else:
            free_disk = node.local_gb - view.local_gb_used
            body.update(vcpus=node.vcpus, memory_mb=node.memory_mb, local_gb=node.local_gb,
                        vcpus_used=view.vcpus_used, memory_mb_used=view.memory_mb_used,
                        local_gb_used=view.local_gb_used,
                        free_ram_mb=node.memory_mb - view.memory_mb_used,
                        free_disk_gb=free_disk, current_workload=0,
                        running_vms=view.running_vms, disk_available_least=free_disk,
                        # an object from 2.28, a JSON string before
                        cpu_info={} if call.at_least(2, 28) else "{}")
    if view.servers:
        body["servers"] = [{"uuid": i, "name": n} for i, n in view.servers]
    elif view.servers is not None and call.at_least(2, 75):
        body["servers"] = []
    return body


def zone(zone: ZoneView, detail: bool) -> Body:
    hosts: Body | None = None
    if detail and zone.available:
        hosts = {host: {s.row.binary: {"available": s.up, "active": not s.row.disabled,
                                       "updated_at": timestamp(s.row.updated_at)}
                        for s in services}
                 for host, services in sorted(zone.hosts.items())}
    return {"zoneName": zone.name, "zoneState": {"available": zone.available},
            "hosts": hosts}
