"""Compute tables: flavors, keypairs, instances and their actions, server groups,
services and compute nodes, allocations (claims) and quotas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from labs.common.columns import EXACT, MicroDateTime
from labs.common.db import new_metadata

ID = sa.String(64)


class ComputeBase(DeclarativeBase):
    metadata = new_metadata()


class Flavor(ComputeBase):
    __tablename__ = "flavor"
    #: Nova's ``flavorid``: what the API calls the flavor's id (any string).
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(EXACT, unique=True)
    vcpus: Mapped[int]
    ram: Mapped[int]  # MiB
    disk: Mapped[int]  # GiB, root disk
    ephemeral: Mapped[int] = mapped_column(default=0)
    swap: Mapped[int] = mapped_column(default=0)  # MiB
    rxtx_factor: Mapped[float] = mapped_column(default=1.0)
    is_public: Mapped[bool] = mapped_column(default=True)
    disabled: Mapped[bool] = mapped_column(default=False)
    description: Mapped[str | None] = mapped_column(sa.Text)
    extra_specs: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)


class FlavorAccess(ComputeBase):
    """A project that may use a private flavor."""

    __tablename__ = "flavor_access"
    flavor_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("flavor.id", ondelete="CASCADE"),
                                           primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)


class Keypair(ComputeBase):
    __tablename__ = "keypair"
    __table_args__ = (sa.UniqueConstraint("user_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ID, index=True)
    name: Mapped[str] = mapped_column(EXACT)
    type: Mapped[str] = mapped_column(sa.String(8), default="ssh")
    public_key: Mapped[str] = mapped_column(sa.Text)
    fingerprint: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)


class Instance(ComputeBase):
    """A server. Deleted ones stay (``deleted``) for instance actions and usage audits."""

    __tablename__ = "instance"
    __table_args__ = (sa.Index("ix_instance_project_deleted", "project_id", "deleted"),
                      sa.Index("ix_instance_host_deleted", "host", "deleted"))
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ID)
    #: The project's label (identity's DNS label of its name; for servers made before
    #: labels, the name itself): the server's FQDN is <hostname>.<project_name>.<domain>.
    project_name: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    user_id: Mapped[str] = mapped_column(ID)
    name: Mapped[str] = mapped_column(sa.String(255))
    hostname: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str | None] = mapped_column(sa.Text)
    vm_state: Mapped[str] = mapped_column(sa.String(32), index=True)
    task_state: Mapped[str | None] = mapped_column(sa.String(32))
    power_state: Mapped[int] = mapped_column(default=0)
    #: The agent's host, once the scheduler placed it (None while scheduling).
    host: Mapped[str | None] = mapped_column(sa.String(255))
    node: Mapped[str | None] = mapped_column(sa.String(255))
    availability_zone: Mapped[str | None] = mapped_column(sa.String(255))
    requested_zone: Mapped[str | None] = mapped_column(sa.String(255))
    #: What the server holds (from its flavor; disk = root + ephemeral), for quotas.
    vcpus: Mapped[int]
    memory_mb: Mapped[int]
    disk_gb: Mapped[int]
    #: The flavor as it was at create time: {id, name, vcpus, ram, disk, ephemeral,
    #: swap, extra_specs}; a later change to the flavor does not change the server.
    flavor: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    image_ref: Mapped[str] = mapped_column(ID)
    key_name: Mapped[str | None] = mapped_column(sa.String(255))
    key_data: Mapped[str | None] = mapped_column(sa.Text)
    user_data: Mapped[str | None] = mapped_column(sa.Text(65535))
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", sa.JSON, default=dict)
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    security_groups: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    #: What was asked for: "auto", "none" or a list of {"uuid", "fixed_ip"}.
    requested_networks: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    #: {network label: [{"addr", "version", "type", "mac"}]}, set by the agent.
    addresses: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    scheduler_hints: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    server_group_id: Mapped[str | None] = mapped_column(ID, index=True)
    config_drive: Mapped[bool] = mapped_column(default=False)
    locked: Mapped[bool] = mapped_column(default=False)
    locked_by: Mapped[str | None] = mapped_column(sa.String(16))  # "owner" or "admin"
    locked_reason: Mapped[str | None] = mapped_column(sa.String(255))
    #: The addresses the user says the server is reached at (Nova's accessIPv4/6).
    access_ip_v4: Mapped[str | None] = mapped_column(sa.String(39))
    access_ip_v6: Mapped[str | None] = mapped_column(sa.String(39))
    #: What compute keeps about a server beside what the user sees: the image a shelved
    #: server was saved to, the power state to come back to after a move...
    system_metadata: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict,
                                                            nullable=True)
    #: During a resize: the flavor it had and the one it goes to (as ``flavor``).
    old_flavor: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    new_flavor: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    reservation_id: Mapped[str] = mapped_column(sa.String(32))
    launch_index: Mapped[int] = mapped_column(default=0)
    progress: Mapped[int] = mapped_column(default=0)
    #: Builds tried so far and the hosts they failed on (for retries).
    attempts: Mapped[int] = mapped_column(default=0)
    failed_hosts: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    #: {"code", "message", "details", "created"} when the server went to ERROR.
    fault: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(MicroDateTime, index=True)
    launched_at: Mapped[datetime | None] = mapped_column(MicroDateTime)
    terminated_at: Mapped[datetime | None] = mapped_column(MicroDateTime)
    deleted: Mapped[bool] = mapped_column(default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(MicroDateTime)


class InstanceAction(ComputeBase):
    """Who did what to a server, and when (``os-instance-actions``)."""

    __tablename__ = "instance_action"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(ID, index=True)
    request_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    action: Mapped[str] = mapped_column(sa.String(32))
    project_id: Mapped[str] = mapped_column(ID)
    user_id: Mapped[str] = mapped_column(ID)
    message: Mapped[str | None] = mapped_column(sa.String(255))
    start_time: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime] = mapped_column(MicroDateTime)


class InstanceActionEvent(ComputeBase):
    __tablename__ = "instance_action_event"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(
        sa.ForeignKey("instance_action.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(sa.String(64))
    host: Mapped[str | None] = mapped_column(sa.String(255))
    result: Mapped[str | None] = mapped_column(sa.String(16))  # Success / Error
    details: Mapped[str | None] = mapped_column(sa.Text)
    start_time: Mapped[datetime] = mapped_column(MicroDateTime)
    finish_time: Mapped[datetime | None] = mapped_column(MicroDateTime)


class Migration(ComputeBase):
    """One move of a server between hosts, or a resize on one (Nova's migration
    record, what ``os-migrations`` and ``servers/{id}/migrations`` show)."""

    __tablename__ = "migration"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(ID, unique=True)
    instance_id: Mapped[str] = mapped_column(ID, index=True)
    project_id: Mapped[str] = mapped_column(ID)
    user_id: Mapped[str] = mapped_column(ID)
    #: "migration" (cold), "resize", "live-migration" or "evacuation"
    migration_type: Mapped[str] = mapped_column(sa.String(32))
    #: Nova's statuses: queued, pre-migrating, migrating, post-migrating, finished,
    #: confirming, confirmed, reverting, reverted, running, preparing, completed,
    #: cancelled, error, failed
    status: Mapped[str] = mapped_column(sa.String(32), index=True)
    source_compute: Mapped[str | None] = mapped_column(sa.String(255))
    source_node: Mapped[str | None] = mapped_column(sa.String(255))
    dest_compute: Mapped[str | None] = mapped_column(sa.String(255))
    dest_node: Mapped[str | None] = mapped_column(sa.String(255))
    dest_host: Mapped[str | None] = mapped_column(sa.String(255))
    old_flavor_id: Mapped[str | None] = mapped_column(ID)
    new_flavor_id: Mapped[str | None] = mapped_column(ID)
    memory_total: Mapped[int | None] = mapped_column(sa.BigInteger)
    memory_processed: Mapped[int | None] = mapped_column(sa.BigInteger)
    memory_remaining: Mapped[int | None] = mapped_column(sa.BigInteger)
    disk_total: Mapped[int | None] = mapped_column(sa.BigInteger)
    disk_processed: Mapped[int | None] = mapped_column(sa.BigInteger)
    disk_remaining: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(MicroDateTime)


class ServerGroup(ComputeBase):
    __tablename__ = "server_group"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    user_id: Mapped[str] = mapped_column(ID)
    name: Mapped[str] = mapped_column(sa.String(255))
    policy: Mapped[str] = mapped_column(sa.String(32))
    rules: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)


class Service(ComputeBase):
    """A running part of compute: each agent (``labs-compute``), the conductor, the
    scheduler. ``last_seen`` is the heartbeat; an old one shows the service ``down``."""

    __tablename__ = "compute_service"
    __table_args__ = (sa.UniqueConstraint("host", "binary"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    host: Mapped[str] = mapped_column(sa.String(255))
    binary: Mapped[str] = mapped_column(sa.String(64))
    availability_zone: Mapped[str] = mapped_column(sa.String(255))
    disabled: Mapped[bool] = mapped_column(default=False)
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(255))
    forced_down: Mapped[bool] = mapped_column(default=False)
    last_seen: Mapped[datetime | None] = mapped_column(MicroDateTime)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime] = mapped_column(MicroDateTime)


class ComputeNode(ComputeBase):
    """What an agent's hypervisor offers; usage comes from the allocations on it."""

    __tablename__ = "compute_node"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    host: Mapped[str] = mapped_column(sa.String(255), unique=True)
    service_id: Mapped[str] = mapped_column(ID)
    hypervisor_hostname: Mapped[str] = mapped_column(sa.String(255))
    hypervisor_type: Mapped[str] = mapped_column(sa.String(32))
    hypervisor_version: Mapped[int] = mapped_column(default=0)
    host_ip: Mapped[str] = mapped_column(sa.String(64))
    vcpus: Mapped[int]
    memory_mb: Mapped[int]
    local_gb: Mapped[int]
    cpu_allocation_ratio: Mapped[float]
    ram_allocation_ratio: Mapped[float]
    disk_allocation_ratio: Mapped[float]
    #: memory the host keeps for itself, and what one instance costs beyond its guest
    #: memory there, as its agent reports them
    reserved_memory_mb: Mapped[int] = mapped_column(default=0, server_default="0")
    memory_overhead_mb: Mapped[int] = mapped_column(default=0, server_default="0")
    #: the host's MemAvailable at `memory_reported_at` (None: never reported)
    memory_available_mb: Mapped[int | None]
    memory_reported_at: Mapped[datetime | None] = mapped_column(MicroDateTime)
    #: the instances `memory_available_mb` accounts for, their number and guest memory
    #: (None: the agent does not say; then what was placed since the report is not)
    counted_instances: Mapped[int | None]
    counted_memory_mb: Mapped[int | None]
    #: Bumped by every claim on this node: claims on one node take turns.
    generation: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(MicroDateTime)


class Allocation(ComputeBase):
    """What one instance holds on one node: the scheduler's claim."""

    __tablename__ = "allocation"
    instance_id: Mapped[str] = mapped_column(ID, primary_key=True)
    node_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("compute_node.id"), index=True)
    vcpus: Mapped[int]
    memory_mb: Mapped[int]
    disk_gb: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)


class QuotaLimit(ComputeBase):
    """A project's limit for one resource, where an admin set one (else the default)."""

    __tablename__ = "quota_limit"
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)
    resource: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    hard_limit: Mapped[int]


class QuotaLock(ComputeBase):
    """One row per project: creates in one project lock it, so quota checks and the
    rows they count are never raced (on SQLite the first write locks the database)."""

    __tablename__ = "quota_lock"
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)
    version: Mapped[int] = mapped_column(default=0)
