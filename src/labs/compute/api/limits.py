"""A project's quotas as the API shows and changes them: limits with what is in use
(``GET /limits``, ``os-quota-sets``), on top of :class:`QuotaService`."""

from __future__ import annotations

from dataclasses import dataclass

from labs.common.db import Database
from labs.common.errors import BadRequest
from labs.compute.api.keypairs import KeypairService
from labs.compute.api.quotas import RESOURCES, STATIC, QuotaService

#: What a project's own rows count (key pairs count per user, members per group).
COUNTED = ("instances", "cores", "ram", "server_groups", "floating_ips", "security_groups",
           "security_group_rules")


@dataclass(frozen=True)
class QuotaUsage:
    """Every resource's limit and use (Labs reserves nothing ahead)."""

    limits: dict[str, int]
    in_use: dict[str, int]


class LimitService:
    def __init__(self, db: Database, quotas: QuotaService) -> None:
        self.db = db
        self.quotas = quotas

    def defaults(self) -> dict[str, int]:
        return {**self.quotas.defaults(), **STATIC}

    def limits(self, project_id: str) -> dict[str, int]:
        with self.db.reading() as tx:
            return {**self.quotas.limits(tx, project_id), **STATIC}

    def usage(self, project_id: str, user_id: str | None = None) -> QuotaUsage:
        """Limits and use; ``user_id``'s key pairs count when given."""
        with self.db.reading() as tx:
            limits = {**self.quotas.limits(tx, project_id), **STATIC}
            used = self.quotas.usage(tx, project_id)
            in_use = dict.fromkeys(limits, 0)
            in_use.update({name: used.get(name) for name in COUNTED})
            if user_id:
                in_use["key_pairs"] = KeypairService.count(tx, user_id)
        return QuotaUsage(limits, in_use)

    def update(self, project_id: str, changes: dict[str, int], force: bool = False
               ) -> dict[str, int]:
        """Set limits; unless ``force``, none below what the project already uses."""
        self.quotas.ensure_lock_row(self.db, project_id)
        with self.db.transaction() as tx:
            self.quotas.lock(tx, project_id)
            used = self.quotas.usage(tx, project_id)
            for name, value in changes.items():
                if not force and name in COUNTED and value != -1 and value < used.get(name):
                    raise BadRequest(f"Quota limit {value} for {name} must be greater than "
                                     f"or equal to already used and reserved "
                                     f"{used.get(name)}.")
            self.quotas.update(tx, project_id,
                               {k: v for k, v in changes.items() if k in RESOURCES})
            return {**self.quotas.limits(tx, project_id), **STATIC}

    def reset(self, project_id: str) -> None:
        """Back to the defaults."""
        with self.db.transaction() as tx:
            self.quotas.reset(tx, project_id)
