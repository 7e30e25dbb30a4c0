"""Compute quotas: limits per project (defaults from the options), usage counted from
the rows themselves, and checks that never overshoot under concurrent creates."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.common.errors import BadRequest, Forbidden
from labs.common.row_locks import ensure_lock_row, take_lock
from labs.compute import models, states
from labs.compute.config import ComputeOptions
from labs.network.quotas import LEGACY_NAMES
from labs.network.service import NetworkService

Inst = models.Instance

#: Compute's own resources (each with its ``quota_<name>`` option).
OWN = ("instances", "cores", "ram", "key_pairs", "metadata_items", "server_groups",
       "server_group_members")
#: Every resource os-quota-sets shows: the network's last (Nova's legacy names for the
#: network's own limits, which it keeps: labs.network.quotas).
RESOURCES = (*OWN, *LEGACY_NAMES)
#: Shown for compatibility (2.56 bodies carry them); Labs does not inject files.
STATIC = {"injected_files": 5, "injected_file_content_bytes": 10240,
          "injected_file_path_bytes": 255}


@dataclass(frozen=True)
class Usage:
    instances: int
    cores: int
    ram: int
    server_groups: int
    floating_ips: int = 0
    security_groups: int = 0
    security_group_rules: int = 0

    def get(self, resource: str) -> int:
        return int(getattr(self, resource, 0))


class QuotaService:
    def __init__(self, options: ComputeOptions, network: NetworkService) -> None:
        self.options = options
        #: Keeps the network's limits and counts its floating IPs and security groups.
        self.network = network

    def defaults(self) -> dict[str, int]:
        network = self.network.quotas.defaults()
        return {**{name: int(getattr(self.options, f"quota_{name}")) for name in OWN},
                **{legacy: network[name] for legacy, name in LEGACY_NAMES.items()}}

    def limits(self, tx: Session, project_id: str) -> dict[str, int]:
        found = {resource: limit for resource, limit in tx.execute(
            sa.select(models.QuotaLimit.resource, models.QuotaLimit.hard_limit)
            .where(models.QuotaLimit.project_id == project_id))}
        network = self.network.quotas.limits(tx, project_id)
        return {**{name: found.get(name, int(getattr(self.options, f"quota_{name}")))
                   for name in OWN},
                **{legacy: network[name] for legacy, name in LEGACY_NAMES.items()}}

    def usage(self, tx: Session, project_id: str) -> Usage:
        # an offloaded server holds no cores nor RAM (as Nova counts them from
        # placement), until its unshelve starts
        held = sa.or_(Inst.vm_state != states.SHELVED_OFFLOADED,
                      Inst.task_state == states.UNSHELVING)
        count, cores, ram = tx.execute(
            sa.select(sa.func.count(),
                      sa.func.coalesce(sa.func.sum(sa.case((held, Inst.vcpus), else_=0)), 0),
                      sa.func.coalesce(sa.func.sum(sa.case((held, Inst.memory_mb), else_=0)),
                                       0))
            .where(Inst.project_id == project_id, Inst.deleted.is_(False))).one()
        groups = tx.scalar(sa.select(sa.func.count()).select_from(models.ServerGroup)
                           .where(models.ServerGroup.project_id == project_id)) or 0
        floating = self.network.floating_ips.count(tx, project_id)
        security = self.network.security_groups.count(tx, project_id)
        rules = self.network.security_groups.count_rules(tx, project_id)
        return Usage(int(count), int(cores), int(ram), int(groups), int(floating),
                     int(security), int(rules))

    @staticmethod
    def ensure_lock_row(db: Database, project_id: str) -> None:
        """Make the project's lock row (see labs.common.row_locks)."""
        ensure_lock_row(db, models.QuotaLock, project_id)

    @staticmethod
    def lock(tx: Session, project_id: str) -> None:
        """Take the project's quota lock until the transaction ends; on MariaDB call
        :meth:`ensure_lock_row` first."""
        take_lock(tx, models.QuotaLock, project_id)

    def instances_allowed(self, tx: Session, project_id: str, vcpus: int, ram: int,
                          min_count: int, max_count: int) -> int:
        """How many of ``min_count``..``max_count`` servers fit (403 if not even the
        minimum does, with Nova's message). Call with the project's lock held."""
        limits, used = self.limits(tx, project_id), self.usage(tx, project_id)
        fits = max_count
        for resource, each in (("instances", 1), ("cores", vcpus), ("ram", ram)):
            if limits[resource] >= 0 and each > 0:
                fits = min(fits, (limits[resource] - used.get(resource)) // each)
        if fits >= min_count:
            return fits
        over = [r for r, each in (("instances", 1), ("cores", vcpus), ("ram", ram))
                if limits[r] >= 0 and used.get(r) + each * min_count > limits[r]]
        wanted = {"instances": max_count, "cores": vcpus * max_count, "ram": ram * max_count}
        requested = (f"{min_count}-{max_count}" if min_count != max_count else str(max_count))
        asked = ", ".join(requested if r == "instances" else str(wanted[r]) for r in over)
        raise Forbidden(
            f"Quota exceeded for {', '.join(over)}: Requested {asked}, but already used "
            f"{', '.join(str(used.get(r)) for r in over)} of "
            f"{', '.join(str(limits[r]) for r in over)} {', '.join(over)}")

    def check_growth(self, tx: Session, project_id: str, cores: int, ram: int) -> None:
        """403 when `cores` and `ram` more (a resize up) pass the project's quota, with
        Nova's message. Call with the project's lock held."""
        grow = {"cores": cores, "ram": ram}
        if all(value <= 0 for value in grow.values()):
            return
        limits, used = self.limits(tx, project_id), self.usage(tx, project_id)
        over = [r for r, more in grow.items()
                if more > 0 and limits[r] >= 0 and used.get(r) + more > limits[r]]
        if over:
            raise Forbidden(
                f"Quota exceeded for {', '.join(over)}: Requested "
                f"{', '.join(str(grow[r]) for r in over)}, but already used "
                f"{', '.join(str(used.get(r)) for r in over)} of "
                f"{', '.join(str(limits[r]) for r in over)} {', '.join(over)}")

    def check_metadata_items(self, tx: Session, project_id: str, count: int,
                             message: str | None = None) -> None:
        """403 when ``count`` metadata items pass the project's ``metadata_items``."""
        limit = self.limits(tx, project_id)["metadata_items"]
        if 0 <= limit < count:
            raise Forbidden(message or f"Quota exceeded for metadata_items: Requested "
                            f"{count}, but the limit is {limit}")

    def update(self, tx: Session, project_id: str, changes: dict[str, int]) -> None:
        for resource, value in changes.items():
            if resource not in RESOURCES:
                if resource in STATIC:
                    continue
                raise BadRequest(f"Unknown quota resource {resource!r}; known: "
                                 f"{', '.join(RESOURCES)}.")
            if value < -1:
                raise BadRequest(f"Quota limit {value} for {resource} must be -1 "
                                 "(unlimited) or more.")
            if resource in LEGACY_NAMES:
                self.network.quotas.set_limits(tx, project_id,
                                               {LEGACY_NAMES[resource]: value})
                continue
            row = tx.get(models.QuotaLimit, (project_id, resource))
            if row is None:
                tx.add(models.QuotaLimit(project_id=project_id, resource=resource,
                                         hard_limit=value))
            else:
                row.hard_limit = value

    def reset(self, tx: Session, project_id: str) -> None:
        tx.execute(sa.delete(models.QuotaLimit).where(models.QuotaLimit.project_id == project_id))
        self.network.quotas.clear(tx, project_id, tuple(LEGACY_NAMES.values()))
