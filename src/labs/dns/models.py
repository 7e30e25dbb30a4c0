"""DNS tables: zones, their recordsets and records, TLDs and quotas (as Designate's)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from labs.common.columns import MicroDateTime
from labs.common.db import new_metadata

ID = sa.String(64)
NAME = sa.String(255)


class DnsBase(DeclarativeBase):
    metadata = new_metadata()


class Zone(DnsBase):
    """A zone. Its name is unique across projects: one project owns a name."""

    __tablename__ = "dns_zone"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    #: absolute, lower case, with the trailing dot
    name: Mapped[str] = mapped_column(NAME, unique=True)
    email: Mapped[str] = mapped_column(NAME)
    ttl: Mapped[int] = mapped_column(sa.Integer)
    serial: Mapped[int] = mapped_column(sa.BigInteger)
    description: Mapped[str | None] = mapped_column(sa.String(160))
    type: Mapped[str] = mapped_column(sa.String(16), default="PRIMARY")
    #: PENDING until the backend serves the current serial, then ACTIVE
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    #: what is pending: CREATE, UPDATE, DELETE; NONE once ACTIVE
    action: Mapped[str] = mapped_column(sa.String(16))
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    pool_id: Mapped[str] = mapped_column(ID)
    masters: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(MicroDateTime)
    #: when the zone last moved to another project (a transfer accepted)
    transferred_at: Mapped[datetime | None] = mapped_column(MicroDateTime)


class RecordSet(DnsBase):
    """All records of one name and type in a zone."""

    __tablename__ = "dns_recordset"
    __table_args__ = (sa.UniqueConstraint("zone_id", "name", "type"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    zone_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("dns_zone.id", ondelete="CASCADE"),
                                         index=True)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    name: Mapped[str] = mapped_column(NAME, index=True)
    type: Mapped[str] = mapped_column(sa.String(8))
    #: None: the zone's TTL
    ttl: Mapped[int | None] = mapped_column(sa.Integer)
    description: Mapped[str | None] = mapped_column(sa.String(160))
    status: Mapped[str] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(16))
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(MicroDateTime)


class Record(DnsBase):
    """One record of a recordset, in presentation form. Records the cloud makes for a VM
    are ``managed``, tagged with the VM's id (``managed_resource_id``)."""

    __tablename__ = "dns_record"
    __table_args__ = (sa.UniqueConstraint("recordset_id", "hash"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    recordset_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("dns_recordset.id", ondelete="CASCADE"), index=True)
    zone_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("dns_zone.id", ondelete="CASCADE"),
                                         index=True)
    data: Mapped[str] = mapped_column(sa.Text)
    #: sha256 of the data: one record per data in a recordset, whatever its length
    hash: Mapped[str] = mapped_column(sa.String(64))
    managed: Mapped[bool] = mapped_column(default=False)
    managed_resource_id: Mapped[str | None] = mapped_column(ID, index=True)
    managed_resource_type: Mapped[str | None] = mapped_column(sa.String(64))
    managed_plugin_name: Mapped[str | None] = mapped_column(sa.String(64))
    #: the project a managed record was made for (a floating IP's, for its PTR)
    managed_tenant_id: Mapped[str | None] = mapped_column(ID)


class Tld(DnsBase):
    """A top-level domain zones may be made under (when any exist)."""

    __tablename__ = "dns_tld"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    #: without the trailing dot, lower case (``org``, ``co.uk``)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    description: Mapped[str | None] = mapped_column(sa.String(160))
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(MicroDateTime)


class Blacklist(DnsBase):
    """A regular expression (RE2) of zone names only admins may take."""

    __tablename__ = "dns_blacklist"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    pattern: Mapped[str] = mapped_column(NAME, unique=True)
    description: Mapped[str | None] = mapped_column(sa.String(160))
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(MicroDateTime)


class TsigKey(DnsBase):
    """A TSIG key (Designate's ``/v2/tsigkeys``) for a pool or a zone, kept for admins."""

    __tablename__ = "dns_tsigkey"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    algorithm: Mapped[str] = mapped_column(sa.String(32))
    secret: Mapped[str] = mapped_column(NAME)
    scope: Mapped[str] = mapped_column(sa.String(32))
    resource_id: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(MicroDateTime)


class ZoneShare(DnsBase):
    """A zone its owner shared with another project, which may add recordsets to it."""

    __tablename__ = "dns_zone_share"
    __table_args__ = (sa.UniqueConstraint("zone_id", "target_project_id"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    zone_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("dns_zone.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ID)
    target_project_id: Mapped[str] = mapped_column(ID, index=True)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(MicroDateTime)


class Quota(DnsBase):
    """A project's limit for one resource, where it differs from the default."""

    __tablename__ = "dns_quota"
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)
    resource: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(sa.Integer)


class ProjectLock(DnsBase):
    """One row per project: zone creates lock it, so that the zone quota is never
    raced (see labs.common.row_locks)."""

    __tablename__ = "dns_project_lock"
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer, default=0)


class ZoneTask:
    """The columns of a zone export or import (Designate's tasks)."""

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    zone_id: Mapped[str | None] = mapped_column(ID)
    status: Mapped[str] = mapped_column(sa.String(16))
    message: Mapped[str | None] = mapped_column(sa.String(255))
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(MicroDateTime)


class ZoneExport(ZoneTask, DnsBase):
    """A zone's export: the zone file is rendered when asked for (Designate's
    ``designate://`` location)."""

    __tablename__ = "dns_zone_export"


class ZoneImport(ZoneTask, DnsBase):
    """A zone file import: COMPLETE with the zone it made, or ERROR with why."""

    __tablename__ = "dns_zone_import"


class TransferRequest(DnsBase):
    """An offer of a zone to another project (any, or ``target_project_id``)."""

    __tablename__ = "dns_transfer_request"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    zone_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("dns_zone.id", ondelete="CASCADE"),
                                         index=True)
    zone_name: Mapped[str] = mapped_column(NAME)
    target_project_id: Mapped[str | None] = mapped_column(ID, index=True)
    key: Mapped[str] = mapped_column(sa.String(64))
    description: Mapped[str | None] = mapped_column(sa.String(160))
    #: ACTIVE until accepted (COMPLETE)
    status: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(MicroDateTime)


class TransferAccept(DnsBase):
    """The acceptance of a transfer request, by the project the zone moved to."""

    __tablename__ = "dns_transfer_accept"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    zone_id: Mapped[str] = mapped_column(ID)
    transfer_request_id: Mapped[str] = mapped_column(ID, unique=True)
    key: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(MicroDateTime)


class ServiceStatus(DnsBase):
    """The last heartbeat of one part of the DNS service on one host."""

    __tablename__ = "dns_service_status"
    __table_args__ = (sa.UniqueConstraint("service_name", "hostname"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    service_name: Mapped[str] = mapped_column(sa.String(64))
    hostname: Mapped[str] = mapped_column(NAME)
    #: what the part itself reports: UP, WARNING or DOWN
    status: Mapped[str] = mapped_column(sa.String(16))
    stats: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    capabilities: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    heartbeated_at: Mapped[datetime] = mapped_column(MicroDateTime)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(MicroDateTime)
