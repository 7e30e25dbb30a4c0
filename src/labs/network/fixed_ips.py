"""Project networks and their fixed IPs.

A project's network is carved from the cloud's pool (`[network] fixed_range`, one
`network_prefix`-sized block each, the lowest free one) the first time one of its VMs is
placed; every host address of it gets a row, the first one being the gateway (DHCP, DNS,
metadata, router). An instance takes the free address released longest ago (fresh ones
first, then in address order), so an address just freed is not handed out again at once;
an address is held by one instance at most (a unique key), and released on delete.

A network is made in a transaction of its own (two builds of one project may race to
make it: the loser reads the winner's); addresses are taken inside the caller's
transaction (the conductor's), so placing an instance and giving it an address commit
together.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.common.errors import Conflict
from labs.network import models
from labs.network.config import NetworkOptions
from labs.network.specs import server_addresses

Net, Fixed = models.Network, models.FixedIp


class NoAddressesLeft(Conflict):
    """A pool (of networks, or of a network's addresses) is used up."""


@dataclass(frozen=True)
class ProjectNetwork:
    """A project's network as its builds see it."""

    id: str
    project_id: str
    label: str
    cidr: str
    gateway: str
    external_ip: str | None

    @classmethod
    def of(cls, row: models.Network) -> ProjectNetwork:
        return cls(id=row.id, project_id=row.project_id, label=row.label, cidr=row.cidr,
                   gateway=row.gateway, external_ip=row.external_ip)


@dataclass(frozen=True)
class FixedAllocation:
    """An instance's place on its project's network."""

    network_id: str
    label: str
    cidr: str
    gateway: str
    external_ip: str | None
    address: str
    mac: str

    def addresses(self, floating_ips: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
        """The server's ``addresses`` (Nova's format), with these floating IPs."""
        return server_addresses(self.label, self.address, self.mac, floating_ips)


def mac_for(instance_id: str) -> str:
    """A stable, locally administered unicast MAC for the instance's NIC (fa:16:3e, as
    OpenStack's, then three bytes of the instance id)."""
    tail = uuid.UUID(instance_id).bytes[-3:] if _is_uuid(instance_id) else \
        uuid.uuid5(uuid.NAMESPACE_OID, instance_id).bytes[-3:]
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in tail)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class FixedIps:
    def __init__(self, options: NetworkOptions, external: ipaddress.IPv4Network) -> None:
        self.options = options
        self.pool = ipaddress.IPv4Network(options.fixed_range)
        self.external = external

    def ensure_network(self, db: Database, project_id: str) -> ProjectNetwork:
        """The project's network, made now (and committed) if it has none."""
        for _attempt in range(5):
            with db.reading() as tx:
                row = tx.scalar(sa.select(Net).where(Net.project_id == project_id))
            if row is not None:
                return ProjectNetwork.of(row)
            try:
                with db.transaction() as tx:
                    return ProjectNetwork.of(self._make_network(tx, project_id))
            except IntegrityError:
                continue  # another build made it, or took the same block: look again
        raise Conflict(f"Could not make a network for project {project_id}: too many "
                       "concurrent attempts; try again.")

    def _make_network(self, tx: Session, project_id: str) -> models.Network:
        taken = set(tx.scalars(sa.select(Net.cidr)))
        blocks = self.pool.subnets(new_prefix=self.options.network_prefix)
        cidr = next((str(block) for block in blocks if str(block) not in taken), None)
        if cidr is None:
            raise NoAddressesLeft(f"No network left in {self.pool} for project {project_id}: "
                                  "the operator can widen [network] fixed_range.")
        block = ipaddress.IPv4Network(cidr)
        hosts = list(block.hosts())
        row = Net(id=str(uuid.uuid4()), project_id=project_id, label=self.options.label,
                  cidr=cidr, gateway=str(hosts[0]), external_ip=self._external_ip(tx),
                  created_at=_now())
        tx.add(row)
        tx.flush()
        tx.execute(sa.insert(Fixed), [
            {"network_id": row.id, "address": str(ip), "number": int(ip)}
            for ip in hosts[1:]])
        return row

    def _external_ip(self, tx: Session) -> str | None:
        """The network's uplink address: the highest free one of the public range (floating
        IPs are handed out from the bottom)."""
        taken = set(tx.scalars(sa.select(Net.external_ip).where(Net.external_ip.is_not(None))))
        taken |= set(tx.scalars(sa.select(models.FloatingIp.address)))
        hosts = list(self.external.hosts())
        for ip in reversed(hosts[1:]):  # the first is the public side's gateway
            if str(ip) not in taken:
                return str(ip)
        return None

    def allocate(self, tx: Session, net: ProjectNetwork, instance_id: str) -> FixedAllocation:
        """The instance's address on `net` (the same one when it already has one)."""
        held = tx.scalar(sa.select(Fixed).where(Fixed.instance_id == instance_id))
        if held is None:
            free = (sa.select(Fixed.id).where(Fixed.network_id == net.id,
                                              Fixed.instance_id.is_(None))
                    .order_by(Fixed.released_at.is_not(None), Fixed.released_at,
                              Fixed.number).limit(1))
            if tx.bind is not None and tx.bind.dialect.name != "sqlite":
                free = free.with_for_update(skip_locked=True)
            fixed_id = tx.scalar(free)
            if fixed_id is None:
                raise NoAddressesLeft(f"No fixed IP left on network {net.cidr} of project "
                                      f"{net.project_id}: delete servers or ask for a bigger "
                                      "network.")
            tx.execute(sa.update(Fixed).where(Fixed.id == fixed_id)
                       .values(instance_id=instance_id, mac=mac_for(instance_id)))
            held = tx.get(Fixed, fixed_id, populate_existing=True)
            assert held is not None
        return FixedAllocation(network_id=net.id, label=net.label, cidr=net.cidr,
                               gateway=net.gateway, external_ip=net.external_ip,
                               address=held.address, mac=held.mac or mac_for(instance_id))

    @staticmethod
    def release(tx: Session, instance_id: str, at: datetime | None = None) -> None:
        """Give the instance's address back to its network (`at`: when; now)."""
        tx.execute(sa.update(Fixed).where(Fixed.instance_id == instance_id)
                   .values(instance_id=None, mac=None, released_at=at or _now()))

    def of_instances(self, tx: Session, instance_ids: list[str]) -> dict[str, FixedAllocation]:
        rows = tx.execute(sa.select(Fixed, Net).join(Net, Net.id == Fixed.network_id)
                          .where(Fixed.instance_id.in_(instance_ids)))
        return {fixed.instance_id: _allocation(fixed, net)
                for fixed, net in rows if fixed.instance_id}


    @staticmethod
    def held_at(tx: Session, network_id: str, address: str
                ) -> tuple[str, FixedAllocation] | None:
        """Who holds `address` on `network_id`: (instance id, its allocation)."""
        found = tx.execute(sa.select(Fixed, Net).join(Net, Net.id == Fixed.network_id)
                           .where(Fixed.network_id == network_id, Fixed.address == address,
                                  Fixed.instance_id.is_not(None))).first()
        if found is None:
            return None
        fixed, net = found
        assert fixed.instance_id is not None
        return fixed.instance_id, _allocation(fixed, net)


def _allocation(fixed: models.FixedIp, net: models.Network) -> FixedAllocation:
    return FixedAllocation(network_id=net.id, label=net.label, cidr=net.cidr,
                           gateway=net.gateway, external_ip=net.external_ip,
                           address=fixed.address, mac=fixed.mac or "")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
