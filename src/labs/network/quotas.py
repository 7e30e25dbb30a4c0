"""The network's quotas, the one source of its limits: per project, for Neutron's
resources (``network``, ``subnet``, ``port``, ``router``, ``floatingip``,
``security_group``, ``security_group_rule``), defaults from the ``[network] quota_*``
options, an admin's limits for a project in ``network_quota``; -1: no limit.

Usage is counted from the rows themselves. A create checks under the project's lock
(``network_quota_lock``), so concurrent creates never pass a limit together:

    quotas.ready(project_id)                 # before the transaction (MariaDB's row)
    with db.transaction() as tx:
        quotas.check_create(tx, project_id, "network", adding=1)  # 409 OverQuota
        ...add the rows...

Both APIs read these limits: the network API's ``/v2.0/quotas`` and creates (Neutron's
409 ``OverQuota``), and the compute API's nova-network proxies and legacy
``os-quota-sets`` keys (``floating_ips``, ``security_groups``,
``security_group_rules``; Nova's 403s), through `LEGACY_NAMES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.common.errors import BadRequest
from labs.common.row_locks import ensure_lock_row, take_lock
from labs.network import models
from labs.network.config import NetworkOptions
from labs.network.errors import OverQuota

RESOURCES = ("network", "subnet", "port", "router", "floatingip", "security_group",
             "security_group_rule")
#: The compute API's legacy names of the network's quotas -> the network's.
LEGACY_NAMES = {"floating_ips": "floatingip", "security_groups": "security_group",
                "security_group_rules": "security_group_rule"}
#: How many of a resource a project has, read in the given transaction.
Counter = Callable[[Session, str], int]
Limit, Lock = models.NetworkQuota, models.NetworkQuotaLock


def count_networks(tx: Session, project_id: str) -> int:
    """The project's networks."""
    return tx.scalar(sa.select(sa.func.count()).select_from(models.Network)
                     .where(models.Network.project_id == project_id)) or 0


def count_subnets(tx: Session, project_id: str) -> int:
    """The project's subnets."""
    return tx.scalar(sa.select(sa.func.count()).select_from(models.Subnet)
                     .where(models.Subnet.project_id == project_id)) or 0


def count_ports(tx: Session, project_id: str) -> int:
    """The project's ports (those compute made for its servers too)."""
    Port = models.Port
    return tx.scalar(sa.select(sa.func.count()).select_from(Port)
                     .where(Port.project_id == project_id)) or 0


class NetworkQuotas:
    """`counters`: how each resource's usage is counted (one without a counter has
    none in use)."""

    def __init__(self, db: Database, options: NetworkOptions,
                 counters: Mapping[str, Counter]) -> None:
        self.db = db
        self.options = options
        self.counters = dict(counters)

    def defaults(self) -> dict[str, int]:
        return {name: int(getattr(self.options, f"quota_{name}")) for name in RESOURCES}

    def limits(self, tx: Session, project_id: str) -> dict[str, int]:
        """The project's limit of every resource."""
        found = {resource: limit for resource, limit in tx.execute(
            sa.select(Limit.resource, Limit.hard_limit).where(Limit.project_id == project_id))}
        return {name: found.get(name, default) for name, default in self.defaults().items()}

    def used(self, tx: Session, project_id: str) -> dict[str, int]:
        """How many of each resource the project has."""
        return {name: int(self.counters[name](tx, project_id)) if name in self.counters
                else 0 for name in RESOURCES}

    def projects(self, tx: Session) -> list[str]:
        """The projects an admin set a limit for."""
        return list(tx.scalars(sa.select(Limit.project_id).distinct()
                               .order_by(Limit.project_id)))

    # -- the lock and the checks (labs.network.quota.ProjectQuota) ----------------------
    def ready(self, project_id: str) -> None:
        """Before the transaction: the project's lock row (on MariaDB)."""
        ensure_lock_row(self.db, Lock, project_id)

    def lock(self, tx: Session, project_id: str) -> Mapping[str, int]:
        """Hold the project's lock until `tx` ends; its limits."""
        take_lock(tx, Lock, project_id)
        return self.limits(tx, project_id)

    def check_create(self, tx: Session, project_id: str, resource: str,
                     adding: int = 1) -> None:
        """Take the project's lock and refuse (Neutron's 409 ``OverQuota``) when
        `adding` more of `resource` would pass its limit. Call `ready` before `tx`."""
        limit = self.lock(tx, project_id)[resource]
        if 0 <= limit < self.used(tx, project_id)[resource] + adding:
            raise OverQuota(resource)

    # -- an admin's changes -----------------------------------------------------------
    def update(self, project_id: str, changes: Mapping[str, int]) -> dict[str, int]:
        """Set limits (-1: none); the project's limits after."""
        with self.db.transaction() as tx:
            self.set_limits(tx, project_id, changes)
            return self.limits(tx, project_id)

    @staticmethod
    def set_limits(tx: Session, project_id: str, changes: Mapping[str, int]) -> None:
        """Set limits in `tx` (a resource this does not know, or a limit below -1: 400)."""
        for resource, value in changes.items():
            if resource not in RESOURCES:
                raise BadRequest(f"Unrecognized attribute(s) '{resource}'")
            if value < -1:
                raise BadRequest(f"Invalid input for {resource}. Reason: '{value}' should "
                                 "be greater than or equal to -1.")
        for resource, value in changes.items():
            row = tx.get(Limit, (project_id, resource))
            if row is None:
                tx.add(Limit(project_id=project_id, resource=resource, hard_limit=value))
            else:
                row.hard_limit = value
        tx.flush()

    @staticmethod
    def clear(tx: Session, project_id: str, resources: tuple[str, ...] = RESOURCES) -> None:
        """`resources` of the project back to their defaults, in `tx`."""
        tx.execute(sa.delete(Limit).where(Limit.project_id == project_id,
                                          Limit.resource.in_(resources)))

    def reset(self, project_id: str) -> None:
        """Back to the defaults."""
        with self.db.transaction() as tx:
            self.clear(tx, project_id)
