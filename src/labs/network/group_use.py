"""What the network learns from compute about security groups, without reading
compute's tables: whether a live server names a group (so it cannot go), and a way to
have the hosts running a project's servers enforce its rules (or route by its routers)
again after a change.

Compute provides it (its nova-network proxy layer) to the network API, as it provides
`Associations` for floating IPs; a process without compute has none and changes no
security groups.
"""

from __future__ import annotations

from typing import Protocol


class GroupUse(Protocol):
    def group_in_use(self, project_id: str, name: str) -> bool:
        """Whether a live server of `project_id` is a member of its group `name`."""

    def rules_changed(self, project_id: str) -> None:
        """The project's groups, rules, ports' security or a subnet its servers are on
        changed: every host running one of its servers applies them again (a host that
        cannot be told picks them up later)."""

    def routers_changed(self, project_id: str) -> None:
        """A router of the project changed (its gateway, its subnets): every host running
        one of its servers reads its servers' networks again and routes by them."""
