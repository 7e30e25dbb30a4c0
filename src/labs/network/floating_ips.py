"""Floating IPs: public addresses a project allocates from the pool (`[network]
floating_range`, named `floating_pool`) and associates with one of its servers; the
server's host then forwards the address to the server's fixed IP (NAT).

The pool's rows are made when the service starts (every host address but the first, the
public side's gateway, and those the networks' uplinks hold). An address is allocated
to one project at most and associated with one server at most.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.context import RequestContext
from labs.common.db import Database
from labs.common.errors import BadRequest, Conflict, NotFound
from labs.network import models, tags
from labs.network.quota import ProjectQuota, check
from labs.network.topology import ID_NAMESPACE

if TYPE_CHECKING:
    from labs.network.notices import Notices

Float, Net = models.FloatingIp, models.Network


@dataclass(frozen=True)
class FloatingIpRecord:
    """A floating IP as the network's callers see it."""

    id: int
    address: str
    pool: str
    project_id: str | None
    instance_id: str | None
    fixed_ip: str | None
    updated_at: datetime | None = None
    revision_number: int = 0

    @classmethod
    def of(cls, row: models.FloatingIp) -> FloatingIpRecord:
        return cls(id=row.id, address=row.address, pool=row.pool, project_id=row.project_id,
                   instance_id=row.instance_id, fixed_ip=row.fixed_ip,
                   updated_at=row.updated_at, revision_number=row.revision_number)


def floating_id_of(number: int) -> str:
    """The API's id of floating IP row `number`, stable across reads and restarts."""
    return str(uuid.uuid5(ID_NAMESPACE, f"floatingip:{number}"))


class Associations(Protocol):
    """What changes a floating IP with its server's side: compute's (the server's
    ``addresses`` follow, and its host is told), with the project's quota."""

    def allocate_floating(self, ctx: RequestContext, pool: str | None
                          ) -> FloatingIpRecord: ...

    def release_floating(self, ctx: RequestContext, floating_id: str) -> None: ...

    def associate_floating(self, ctx: RequestContext, server_id: str, address: str,
                           fixed_address: str | None) -> None: ...

    def disassociate_floating(self, ctx: RequestContext, server_id: str,
                              address: str) -> None: ...


class FloatingIps:
    """`notices`: where each change is told once committed (None: nowhere)."""

    def __init__(self, db: Database, pool: str, public: ipaddress.IPv4Network) -> None:
        self.db = db
        self.pool = pool
        self.public = public
        self.notices: Notices | None = None

    def ensure_pool(self) -> None:
        """Rows for the pool's addresses (the lower half of the public range; the upper
        half is for the networks' uplinks)."""
        hosts = list(self.public.hosts())[1:]
        wanted = hosts[: max(1, len(hosts) // 2)]
        with self.db.transaction() as tx:
            have = set(tx.scalars(sa.select(Float.address)))
            new = [{"address": str(ip), "number": int(ip), "pool": self.pool}
                   for ip in wanted if str(ip) not in have]
            if new:
                tx.execute(sa.insert(Float), new)

    def pools(self) -> list[str]:
        return [self.pool]

    def list_mine(self, ctx: RequestContext) -> list[FloatingIpRecord]:
        with self.db.reading() as tx:
            return [FloatingIpRecord.of(row) for row in tx.scalars(
                sa.select(Float).where(Float.project_id == ctx.project_id)
                .order_by(Float.number))]

    def list_allocated(self, project_id: str | None, *, every_project: bool = False
                       ) -> list[FloatingIpRecord]:
        """The addresses allocated to `project_id`, or with `every_project` to any."""
        query = sa.select(Float).where(Float.project_id.is_not(None)).order_by(Float.number)
        if not every_project:
            query = query.where(Float.project_id == (project_id or ""))
        with self.db.reading() as tx:
            return [FloatingIpRecord.of(row) for row in tx.scalars(query)]

    def get(self, ctx: RequestContext, floating_id: str) -> FloatingIpRecord:
        with self.db.reading() as tx:
            return FloatingIpRecord.of(self._mine(tx, ctx, floating_id))

    @staticmethod
    def count(tx: Session, project_id: str) -> int:
        """How many floating IPs the project holds (its ``floating_ips`` usage)."""
        return tx.scalar(sa.select(sa.func.count()).select_from(Float)
                         .where(Float.project_id == project_id)) or 0

    def allocate(self, ctx: RequestContext, pool: str | None,
                 quota: ProjectQuota | None = None) -> FloatingIpRecord:
        """An address of the pool for the caller's project, within its ``floating_ips``
        quota (403 with Nova's message past it)."""
        if pool not in (None, self.pool):
            raise NotFound(f"Floating IP pool not found: {pool}")
        project_id = ctx.project_id or ""
        if quota is not None:
            quota.ready(project_id)
        with self.db.transaction() as tx:
            if quota is not None:
                limits = quota.lock(tx, project_id)  # before counting
                used = self.count(tx, project_id)
                check(limits, "floatingip", used, 1,
                      f"IP allocation over quota in pool {pool}." if pool
                      else "IP allocation over quota.")
            free = (sa.select(Float).where(Float.project_id.is_(None), Float.pool == self.pool)
                    .order_by(Float.updated_at.is_not(None), Float.updated_at, Float.number)
                    .limit(1))
            if tx.bind is not None and tx.bind.dialect.name != "sqlite":
                free = free.with_for_update(skip_locked=True)
            row = tx.scalar(free)
            if row is None:
                raise NotFound(f"No more floating IPs in pool {self.pool}.")
            row.project_id, row.updated_at, row.revision_number = ctx.project_id, _now(), 0
            return self._told(tx, "create", row)

    def release(self, ctx: RequestContext, floating_id: str) -> FloatingIpRecord:
        """Give the address back to the pool (disassociated first); the address as it
        was."""
        with self.db.transaction() as tx:
            row = self._mine(tx, ctx, floating_id)
            before = FloatingIpRecord.of(row)
            if self.notices is not None:
                self.notices.floatingip(tx, "delete", before)
            row.project_id = row.instance_id = row.fixed_ip = None
            row.updated_at = _now()
            tags.drop(tx, "floatingips", [floating_id_of(row.id)])
            return before

    def associate(self, tx: Session, ctx: RequestContext, address: str, instance_id: str,
                  fixed_ip: str) -> None:
        row = self._by_address(tx, ctx, address)
        if row.instance_id is not None and row.instance_id != instance_id:
            raise BadRequest(f"Floating IP {address} is associated with another server; "
                             "remove it there first.")
        row.instance_id, row.fixed_ip, row.updated_at = instance_id, fixed_ip, _now()
        row.revision_number += 1
        self._told(tx, "update", row)

    def disassociate(self, tx: Session, ctx: RequestContext, address: str,
                     instance_id: str) -> None:
        row = self._by_address(tx, ctx, address)
        if row.instance_id != instance_id:
            raise Conflict(f"Floating IP {address} is not associated with instance "
                           f"{instance_id}.")
        row.instance_id = row.fixed_ip = None
        row.updated_at = _now()
        row.revision_number += 1
        self._told(tx, "update", row)

    @staticmethod
    def release_instance(tx: Session, instance_id: str, at: datetime | None = None) -> None:
        """Disassociate everything of a deleted instance (the addresses stay allocated;
        `at`: when, now if not given)."""
        tx.execute(sa.update(Float).where(Float.instance_id == instance_id)
                   .values(instance_id=None, fixed_ip=None, updated_at=at or _now(),
                           revision_number=Float.revision_number + 1))

    @staticmethod
    def release_fixed(tx: Session, instance_id: str, fixed_ip: str) -> None:
        """Disassociate what the instance's address `fixed_ip` gets (a NIC detached)."""
        tx.execute(sa.update(Float).where(Float.instance_id == instance_id,
                                          Float.fixed_ip == fixed_ip)
                   .values(instance_id=None, fixed_ip=None, updated_at=_now(),
                           revision_number=Float.revision_number + 1))

    @staticmethod
    def of_instances(tx: Session, instance_ids: list[str]
                     ) -> dict[str, list[FloatingIpRecord]]:
        out: dict[str, list[FloatingIpRecord]] = {}
        for row in tx.scalars(sa.select(Float).where(Float.instance_id.in_(instance_ids))
                              .order_by(Float.number)):
            assert row.instance_id is not None
            out.setdefault(row.instance_id, []).append(FloatingIpRecord.of(row))
        return out

    def _told(self, tx: Session, action: str, row: models.FloatingIp) -> FloatingIpRecord:
        """The row as it is now, told to `notices` once `tx` commits."""
        record = FloatingIpRecord.of(row)
        if self.notices is not None:
            self.notices.floatingip(tx, action, record)
        return record

    def _mine(self, tx: Session, ctx: RequestContext, floating_id: str) -> models.FloatingIp:
        message = f"Floating IP not found for ID {floating_id}"
        try:
            number = int(floating_id)
        except ValueError:
            raise NotFound(message) from None
        row = tx.get(Float, number) if 0 < number < 2**31 else None
        if row is None or row.project_id is None or row.project_id != ctx.project_id:
            raise NotFound(message)
        return row

    def _by_address(self, tx: Session, ctx: RequestContext, address: str
                    ) -> models.FloatingIp:
        row = tx.scalar(sa.select(Float).where(Float.address == address))
        if row is None or row.project_id is None or row.project_id != ctx.project_id:
            raise NotFound(f"Floating IP not found for address {address}.")
        return row


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
