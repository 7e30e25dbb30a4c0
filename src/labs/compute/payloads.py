"""What travels on the bus about an instance: the build spec an agent gets, and the
payload of ``compute.instance.*`` notifications (Nova's legacy, unversioned format)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from labs.compute import models


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def instance_spec(row: models.Instance) -> dict[str, Any]:
    """Everything an agent needs to build and report on an instance (it has no
    database): JSON, so it survives the bus."""
    return {
        "id": row.id, "name": row.name, "hostname": row.hostname,
        "project_id": row.project_id, "project_name": row.project_name or "",
        "user_id": row.user_id,
        "vcpus": row.vcpus, "memory_mb": row.memory_mb, "disk_gb": row.disk_gb,
        "flavor": row.flavor, "image_id": row.image_ref, "user_data": row.user_data,
        "key_data": row.key_data, "metadata": dict(row.metadata_ or {}),
        "availability_zone": row.availability_zone, "reservation_id": row.reservation_id,
        "created_at": row.created_at.isoformat(),
    }


def _time(value: str | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def notification_payload(spec: dict[str, Any], host: str, state: str,
                         task_state: str | None = None, *,
                         addresses: dict[str, Any] | None = None,
                         launched_at: datetime | None = None,
                         **extra: Any) -> dict[str, Any]:
    """Nova's ``info_from_instance`` fields (the ones consumers read), plus
    ``fixed_ips`` when the addresses are known."""
    flavor = spec.get("flavor") or {}
    payload: dict[str, Any] = {
        "instance_id": spec["id"], "tenant_id": spec["project_id"],
        "user_id": spec.get("user_id", ""), "display_name": spec["name"],
        "hostname": spec["hostname"], "host": host, "node": host,
        "availability_zone": spec.get("availability_zone") or "",
        "reservation_id": spec.get("reservation_id", ""),
        "instance_type": flavor.get("name", ""), "instance_flavor_id": flavor.get("id", ""),
        "memory_mb": spec["memory_mb"], "vcpus": spec["vcpus"], "disk_gb": spec["disk_gb"],
        "root_gb": flavor.get("disk", 0), "ephemeral_gb": flavor.get("ephemeral", 0),
        "image_ref_url": spec.get("image_id", ""), "state": state,
        "state_description": task_state or "",
        "created_at": str(datetime.fromisoformat(spec["created_at"])) + "+00:00"
        if spec.get("created_at") else "",
        "launched_at": _time(launched_at), "terminated_at": "", "deleted_at": "",
        "metadata": spec.get("metadata") or {}, "progress": "",
        "access_ip_v4": None, "access_ip_v6": None, "cell_name": "", "os_type": None,
    }
    if addresses is not None:
        payload["fixed_ips"] = fixed_ips(addresses)
    # Labs: the project's name, for the FQDN <hostname>.<project>.<domain> (Nova's payload
    # has only the id)
    payload["project_name"] = spec.get("project_name") or ""
    payload.update(extra)
    return payload


def fixed_ips(addresses: dict[str, Any]) -> list[dict[str, Any]]:
    """Nova's ``fixed_ips`` from a server's ``addresses``: one entry per fixed address,
    carrying the floating addresses of its network."""
    out = []
    for label, ips in addresses.items():
        floating = [{"address": ip["addr"], "type": "floating", "version": 4, "meta": {}}
                    for ip in ips if ip.get("OS-EXT-IPS:type", ip.get("type")) == "floating"]
        out += [{"address": ip["addr"], "version": ip.get("version", 4), "type": "fixed",
                 "label": label, "meta": {}, "floating_ips": floating,
                 "vif_mac": ip.get("OS-EXT-IPS-MAC:mac_addr", ip.get("mac", ""))}
                for ip in ips if ip.get("OS-EXT-IPS:type", ip.get("type", "fixed")) == "fixed"]
    return out
