"""What the network's creates ask before they add a project's rows, under the limits
the caller's `ProjectQuota` gives (the network's own: labs.network.quotas): Nova's 403
with its message for the compute API's proxies, Neutron's 409 ``OverQuota`` for the
network API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sqlalchemy.orm import Session

from labs.common.errors import Forbidden
from labs.network.errors import OverQuota


class ProjectQuota(Protocol):
    def ready(self, project_id: str) -> None:
        """Before the transaction: whatever ``lock`` needs to exist."""

    def lock(self, tx: Session, project_id: str) -> Mapping[str, int]:
        """Hold the project's quota lock until ``tx`` ends; its limits (-1: none)."""


__all__ = ["OverQuota", "ProjectQuota", "check", "check_neutron"]


def check(limits: Mapping[str, int], resource: str, used: int, adding: int,
          message: str) -> None:
    """403 with Nova's ``message`` when ``adding`` more would pass the limit."""
    limit = limits.get(resource, -1)
    if 0 <= limit < used + adding:
        raise Forbidden(message)


def check_neutron(limits: Mapping[str, int], resource: str, used: int, adding: int) -> None:
    """Neutron's 409 when ``adding`` more of ``resource`` would pass the limit."""
    limit = limits.get(resource, -1)
    if 0 <= limit < used + adding:
        raise OverQuota(resource)
