"""What the network tells compute when a port bound to a server goes (``openstack port
delete`` of a server's port, which Neutron allows): the server then has no interface
there, as Nova drops it, so its ``addresses`` are rewritten without the port's and its
host is told to apply its network again. Compute provides it to the network API, as it
provides `Associations` and `GroupUse`; without it the port still goes.
"""

from __future__ import annotations

from typing import Protocol


class PortUse(Protocol):
    def port_deleted(self, instance_id: str) -> None:
        """A port of server `instance_id` was deleted: its ``addresses`` follow and its
        host is told (a host that cannot be told picks it up later)."""
