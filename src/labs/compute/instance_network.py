"""Compute's side of its instances' network: what the network service learns about an
instance (its id, project, hostname and security groups, and who else is in its groups)
and what compute keeps of the answer (the server's ``addresses``; the ``network`` part of
its build spec, as a message).

The conductor and the compute API both use it; the network's tables are read only by
the network service, compute's only here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.compute import models
from labs.network.fixed_ips import ProjectNetwork
from labs.network.instance_ports import InstancePorts, PortOwner, release_addresses
from labs.network.service import NetworkService

Inst = models.Instance

__all__ = ["InstanceNetworking", "hosts_of_project", "release_addresses", "wants_network"]


def wants_network(row: models.Instance) -> bool:
    """A server asked for with ``networks: none`` gets no network; any other request
    (``auto``, or none given) gets an address on its project's network."""
    return bool(row.requested_networks != "none")


def port_owner(row: models.Instance) -> PortOwner:
    return PortOwner(id=row.id, project_id=row.project_id,
                     project_name=row.project_name or "", hostname=row.hostname,
                     security_groups=tuple(row.security_groups or []))


def group_members(tx: Session, project_id: str) -> dict[str, list[str]]:
    """The project's live servers and the security groups each names."""
    return {iid: list(names or []) for iid, names in tx.execute(
        sa.select(Inst.id, Inst.security_groups).where(
            Inst.project_id == project_id, Inst.deleted.is_(False)))}


def hosts_of_project(tx: Session, project_id: str) -> dict[str, list[str]]:
    """The hosts running the project's instances: {host: [instance ids]}."""
    out: dict[str, list[str]] = {}
    for iid, host in tx.execute(sa.select(Inst.id, Inst.host).where(
            Inst.project_id == project_id, Inst.deleted.is_(False),
            Inst.host.is_not(None))):
        if host is not None:
            out.setdefault(host, []).append(iid)
    return out


class InstanceNetworking:
    """The network service's instance ports, for compute's rows."""

    def __init__(self, db: Database, network: NetworkService) -> None:
        self.db = db
        self.network = network
        self.ports = InstancePorts(network, group_members)

    def prepare(self, project_id: str) -> ProjectNetwork:
        """The project's network and default group, made (and committed) if missing:
        before the transaction that places an instance."""
        return self.ports.prepare(project_id)

    def allocate(self, tx: Session, row: models.Instance, net: ProjectNetwork
                 ) -> dict[str, Any]:
        """Give the instance its address (recorded in its ``addresses``); the ``network``
        part of its build spec."""
        port = self.ports.allocate(tx, port_owner(row), net)
        row.addresses = port.addresses()
        return port.to_message()

    def specs(self, tx: Session, rows: list[models.Instance]) -> dict[str, dict[str, Any]]:
        """The ``network`` part of the specs of instances that already have addresses."""
        ports = self.ports.specs(tx, [port_owner(row) for row in rows])
        return {iid: port.to_message() for iid, port in ports.items()}

    @staticmethod
    def hosts_of_project(tx: Session, project_id: str) -> dict[str, list[str]]:
        return hosts_of_project(tx, project_id)
