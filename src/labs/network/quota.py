"""What the network's creates ask before they add a project's rows: Nova's legacy
network quotas (``floating_ips``, ``security_groups``, ``security_group_rules`` per
group; a 403), whose limits the compute API keeps with its other quotas, and Neutron's
(``security_group``, ``security_group_rule`` per project; a 409), whose limits the
caller's `ProjectQuota` gives."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sqlalchemy.orm import Session

from labs.common.errors import Conflict, Forbidden


class ProjectQuota(Protocol):
    def ready(self, project_id: str) -> None:
        """Before the transaction: whatever ``lock`` needs to exist."""

    def lock(self, tx: Session, project_id: str) -> Mapping[str, int]:
        """Hold the project's quota lock until ``tx`` ends; its limits (-1: none)."""


def check(limits: Mapping[str, int], resource: str, used: int, adding: int,
          message: str) -> None:
    """403 with Nova's ``message`` when ``adding`` more would pass the limit."""
    limit = limits.get(resource, -1)
    if 0 <= limit < used + adding:
        raise Forbidden(message)


class OverQuota(Conflict):
    """Neutron's 409 ``OverQuota``."""


def check_neutron(limits: Mapping[str, int], resource: str, used: int, adding: int) -> None:
    """Neutron's 409 when ``adding`` more of ``resource`` would pass the limit."""
    limit = limits.get(resource, -1)
    if 0 <= limit < used + adding:
        raise OverQuota(f"Quota exceeded for resources: ['{resource}'].")
