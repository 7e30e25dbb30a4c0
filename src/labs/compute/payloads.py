"""What travels on the bus about an instance: the build spec an agent gets, and the
payload of ``compute.instance.*`` notifications (Nova's legacy, unversioned format)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the agent reads build specs and has no database
    from labs.compute import models


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class BuildSpec:
    """Everything an agent needs to build and report on an instance (it has no
    database). On the bus it is a JSON object (:meth:`to_message`), the same one agents
    have always read, so agents of the previous release still build from it."""

    id: str
    name: str
    hostname: str
    project_id: str
    project_name: str
    user_id: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    #: The flavor as the instance was created with it (see ``Instance.flavor``).
    flavor: dict[str, Any]
    image_id: str
    user_data: str | None
    key_data: str | None
    metadata: dict[str, str]
    availability_zone: str | None
    reservation_id: str
    created_at: datetime | None
    #: What the agent plugs (address, security rules, floating IPs): the network
    #: service's own message, carried as it is; None without a network.
    network: dict[str, Any] | None = field(default=None)

    @classmethod
    def of_instance(cls, row: models.Instance,
                    network: dict[str, Any] | None = None) -> BuildSpec:
        return cls(
            id=row.id, name=row.name, hostname=row.hostname, project_id=row.project_id,
            project_name=row.project_name or "", user_id=row.user_id, vcpus=row.vcpus,
            memory_mb=row.memory_mb, disk_gb=row.disk_gb, flavor=row.flavor,
            image_id=row.image_ref, user_data=row.user_data, key_data=row.key_data,
            metadata=dict(row.metadata_ or {}), availability_zone=row.availability_zone,
            reservation_id=row.reservation_id, created_at=row.created_at, network=network)

    def with_network(self, network: dict[str, Any] | None) -> BuildSpec:
        return replace(self, network=network)

    def to_message(self) -> dict[str, Any]:
        """The spec as the bus carries it (``network`` only when there is one)."""
        message: dict[str, Any] = {
            "id": self.id, "name": self.name, "hostname": self.hostname,
            "project_id": self.project_id, "project_name": self.project_name,
            "user_id": self.user_id, "vcpus": self.vcpus, "memory_mb": self.memory_mb,
            "disk_gb": self.disk_gb, "flavor": self.flavor, "image_id": self.image_id,
            "user_data": self.user_data, "key_data": self.key_data,
            "metadata": self.metadata, "availability_zone": self.availability_zone,
            "reservation_id": self.reservation_id,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }
        if self.network is not None:
            message["network"] = self.network
        return message

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> BuildSpec:
        """The spec from the bus; keys it does not know (``vm_state`` in what
        ``register_agent`` returns, say) are left to their reader."""
        created = message.get("created_at")
        return cls(
            id=message["id"], name=message["name"], hostname=message["hostname"],
            project_id=message["project_id"],
            project_name=message.get("project_name") or "",
            user_id=message.get("user_id", ""), vcpus=message["vcpus"],
            memory_mb=message["memory_mb"], disk_gb=message["disk_gb"],
            flavor=message.get("flavor") or {}, image_id=message.get("image_id", ""),
            user_data=message.get("user_data"), key_data=message.get("key_data"),
            metadata=message.get("metadata") or {},
            availability_zone=message.get("availability_zone"),
            reservation_id=message.get("reservation_id", ""),
            created_at=datetime.fromisoformat(created) if created else None,
            network=message.get("network"))


@dataclass(frozen=True)
class ExpectedInstance:
    """An instance the cloud expects on an agent's host, as ``register_agent`` answers:
    its spec and the state it is recorded in (what the agent finishes or repairs)."""

    spec: BuildSpec
    vm_state: str
    task_state: str | None

    def to_message(self) -> dict[str, Any]:
        return {**self.spec.to_message(), "vm_state": self.vm_state,
                "task_state": self.task_state}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> ExpectedInstance:
        return cls(BuildSpec.from_message(message), message["vm_state"],
                   message.get("task_state"))


def _time(value: str | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def notification_payload(spec: BuildSpec, host: str, state: str,
                         task_state: str | None = None, *,
                         addresses: dict[str, Any] | None = None,
                         launched_at: datetime | None = None,
                         **extra: Any) -> dict[str, Any]:
    """Nova's ``info_from_instance`` fields (the ones consumers read), plus
    ``fixed_ips`` when the addresses are known."""
    flavor = spec.flavor
    payload: dict[str, Any] = {
        "instance_id": spec.id, "tenant_id": spec.project_id,
        "user_id": spec.user_id, "display_name": spec.name,
        "hostname": spec.hostname, "host": host, "node": host,
        "availability_zone": spec.availability_zone or "",
        "reservation_id": spec.reservation_id,
        "instance_type": flavor.get("name", ""), "instance_flavor_id": flavor.get("id", ""),
        "memory_mb": spec.memory_mb, "vcpus": spec.vcpus, "disk_gb": spec.disk_gb,
        "root_gb": flavor.get("disk", 0), "ephemeral_gb": flavor.get("ephemeral", 0),
        "image_ref_url": spec.image_id, "state": state,
        "state_description": task_state or "",
        "created_at": f"{spec.created_at}+00:00" if spec.created_at else "",
        "launched_at": _time(launched_at), "terminated_at": "", "deleted_at": "",
        "metadata": spec.metadata, "progress": "",
        "access_ip_v4": None, "access_ip_v6": None, "cell_name": "", "os_type": None,
    }
    if addresses is not None:
        payload["fixed_ips"] = fixed_ips(addresses)
    # Labs: the project's label, for the FQDN <hostname>.<label>.<domain> (Nova's payload
    # has only the id; the field keeps its name for the consumers that read it)
    payload["project_name"] = spec.project_name
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
