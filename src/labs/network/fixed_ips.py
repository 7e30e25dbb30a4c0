"""Project networks' fixed IPs, and each project's default network.

A project's default network is carved from the cloud's pool (`[network] fixed_range`,
one `network_prefix`-sized block each, the lowest one no other default network has) the
first time one of its VMs is placed with no network asked for, unless it has networks
of its own. Every address of a subnet's allocation pools gets a row (`fill`); the
gateway (the first host address of a default network) is the host side's DHCP, DNS,
metadata and router address. An instance takes the free address released longest ago (fresh ones
first, then in address order), so an address just freed is not handed out again at once;
an address is held by one instance at most (a unique key), and released on delete.

A network is made in a transaction of its own (two builds of one project may race to
make it: the loser reads the winner's); addresses are taken inside the caller's
transaction (the conductor's), so placing an instance and giving it an address commit
together.
"""

from __future__ import annotations

import ipaddress
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.common.errors import Conflict
from labs.network import models
from labs.network.config import NetworkOptions
from labs.network.errors import PortInUse
from labs.network.ports import COMPUTE_OWNER, free_ports, port_id_of
from labs.network.routers import make_auto
from labs.network.topology import subnet_id_of

Net, Sub, Fixed, Port = models.Network, models.Subnet, models.FixedIp, models.Port
#: How often a project's default network is tried for before a 409 (every round of a
#: race has one winner, so this many projects' first builds can race at once).
ENSURE_ATTEMPTS = 64


class NoAddressesLeft(Conflict):
    """A pool (of networks, or of a network's addresses) is used up."""


@dataclass(frozen=True)
class ProjectNetwork:
    """A network (with its subnet) as its builds see it."""

    id: str
    project_id: str
    label: str
    cidr: str
    gateway: str
    external_ip: str | None
    subnet_id: str = ""
    mtu: int = 1500
    dhcp: bool = True
    dns_servers: tuple[str, ...] = ()
    host_routes: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, row: models.Network, subnet: models.Subnet) -> ProjectNetwork:
        return cls(id=row.id, project_id=row.project_id, label=row.label, cidr=subnet.cidr,
                   gateway=subnet.gateway_ip or "", external_ip=row.external_ip,
                   subnet_id=subnet.id, mtu=row.mtu, dhcp=subnet.enable_dhcp,
                   dns_servers=tuple(subnet.dns_nameservers),
                   host_routes=routes_of(subnet))


@dataclass(frozen=True)
class FixedAllocation:
    """An instance's place on a network."""

    network_id: str
    label: str
    cidr: str
    gateway: str
    external_ip: str | None
    address: str
    mac: str
    mtu: int = 1500
    dhcp: bool = True
    dns_servers: tuple[str, ...] = ()
    #: The port holding it, and that port's place among its instance's NICs.
    port_id: str = ""
    nic_index: int = 0
    host_routes: tuple[tuple[str, str], ...] = ()


def routes_of(subnet: models.Subnet) -> tuple[tuple[str, str], ...]:
    """The subnet's host routes as (destination, next hop)."""
    return tuple((r["destination"], r["nexthop"]) for r in subnet.host_routes or [])


def pool_addresses(pools: list[dict[str, str]]) -> list[ipaddress.IPv4Address]:
    """Every address of the pools, in order."""
    out: list[ipaddress.IPv4Address] = []
    for pool in pools:
        start, end = ipaddress.IPv4Address(pool["start"]), ipaddress.IPv4Address(pool["end"])
        out += [ipaddress.IPv4Address(n) for n in range(int(start), int(end) + 1)]
    return out


def fill(tx: Session, subnet: models.Subnet) -> None:
    """A row for every address of the subnet's allocation pools."""
    tx.execute(sa.insert(Fixed), [
        {"network_id": subnet.network_id, "subnet_id": subnet.id, "address": str(ip),
         "number": int(ip)} for ip in pool_addresses(subnet.allocation_pools)])


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
        """The project's default network, made now (and committed) if it has none.
        Projects' first builds at once race for the lowest free block: each round one
        wins, the others look again (after a short random pause)."""
        for attempt in range(ENSURE_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, 0.02))
            with db.reading() as tx:
                found = tx.execute(sa.select(Net, Sub).join(Sub, Sub.network_id == Net.id)
                                   .where(Net.default_of_project == project_id)).first()
            if found is not None:
                return ProjectNetwork.of(*found)
            try:
                with db.transaction() as tx:
                    return ProjectNetwork.of(*self._make_network(tx, project_id))
            except (IntegrityError, OperationalError) as exc:
                if not _lost_race(exc):
                    raise
                continue  # another build made it, or took the same block: look again
        raise Conflict(f"Could not make a network for project {project_id}: too many "
                       "concurrent attempts; try again.")

    def _make_network(self, tx: Session, project_id: str
                      ) -> tuple[models.Network, models.Subnet]:
        taken = set(tx.scalars(sa.select(Sub.pool_block).where(Sub.pool_block.is_not(None))))
        blocks = self.pool.subnets(new_prefix=self.options.network_prefix)
        cidr = next((str(block) for block in blocks if str(block) not in taken), None)
        if cidr is None:
            raise NoAddressesLeft(f"No network left in {self.pool} for project {project_id}: "
                                  "the operator can widen [network] fixed_range.")
        hosts = list(ipaddress.IPv4Network(cidr).hosts())
        now = _now()
        row = Net(id=str(uuid.uuid4()), project_id=project_id, label=self.options.label,
                  description="", shared=False, admin_state_up=True, mtu=1500,
                  default_of_project=project_id, external_ip=self.external_ip(tx),
                  revision_number=0, created_at=now, updated_at=now)
        subnet = Sub(id=subnet_id_of(row.id), network_id=row.id, project_id=project_id,
                     name=f"{row.label}-subnet", description="", ip_version=4, cidr=cidr,
                     pool_block=cidr, gateway_ip=str(hosts[0]),
                     allocation_pools=[{"start": str(hosts[1]), "end": str(hosts[-1])}],
                     dns_nameservers=[], host_routes=[], enable_dhcp=True,
                     revision_number=0, created_at=now, updated_at=now)
        tx.add_all([row, subnet])
        tx.flush()
        fill(tx, subnet)
        make_auto(tx, row, subnet)  # its way out: SNAT and floating IPs
        return row, subnet

    def external_ip(self, tx: Session) -> str | None:
        """A network's uplink or a router's gateway address: the highest free one of the
        public range (floating IPs are handed out from the bottom); a default network's
        auto router holds its network's."""
        taken = set(tx.scalars(sa.select(Net.external_ip).where(Net.external_ip.is_not(None))))
        taken |= set(tx.scalars(sa.select(models.Router.external_ip)
                                .where(models.Router.external_ip.is_not(None))))
        taken |= set(tx.scalars(sa.select(models.FloatingIp.address)))
        hosts = list(self.external.hosts())
        for ip in reversed(hosts[1:]):  # the first is the public side's gateway
            if str(ip) not in taken:
                return str(ip)
        return None

    def allocate(self, tx: Session, net: ProjectNetwork, instance_id: str,
                 project_id: str | None = None, *, port_id: str | None = None,
                 address: str | None = None, nic_index: int = 0,
                 security_groups: list[str] | None = None) -> FixedAllocation:
        """The address on `net` of the instance (of `project_id`: by default the
        network's), the same one when it already has one there: that of the port
        `port_id` (bound to it now), or `address`, or the next free one (in a port made
        for it, in `security_groups`); its port is the instance's NIC `nic_index`."""
        held = tx.scalar(sa.select(Fixed).where(Fixed.instance_id == instance_id,
                                                Fixed.network_id == net.id))
        if held is None and port_id is not None:
            fixed_id = bind_port(tx, port_id, instance_id)
            tx.execute(sa.update(Fixed).where(Fixed.id == fixed_id)
                       .values(nic_index=nic_index))
        elif held is None:
            free = free_address(tx, net.id)
            if address is not None:
                free = free.where(Fixed.address == address)
            fixed_id = tx.scalar(free)
            if fixed_id is None and address is not None:
                raise Conflict(f"Fixed IP address {address} is already in use.")
            if fixed_id is None:
                raise NoAddressesLeft(f"No fixed IP left on network {net.cidr} of project "
                                      f"{net.project_id}: delete servers or ask for a bigger "
                                      "network.")
            port = compute_port(net.id, instance_id, project_id or net.project_id,
                                nic_index, security_groups)
            tx.add(port)
            tx.flush()
            tx.execute(sa.update(Fixed).where(Fixed.id == fixed_id)
                       .values(instance_id=instance_id, mac=port.mac_address,
                               port_id=port.id, project_id=port.project_id,
                               nic_index=nic_index))
        if held is None:
            held = tx.get(Fixed, fixed_id, populate_existing=True)
            assert held is not None
        return FixedAllocation(network_id=net.id, label=net.label, cidr=net.cidr,
                               gateway=net.gateway, external_ip=net.external_ip,
                               address=held.address, mac=held.mac or mac_for(instance_id),
                               mtu=net.mtu, dhcp=net.dhcp, dns_servers=net.dns_servers,
                               port_id=held.port_id or "", nic_index=held.nic_index,
                               host_routes=net.host_routes)

    @staticmethod
    def next_nic_index(tx: Session, instance_id: str) -> int:
        """The index a NIC attached to the instance now gets: after its last one."""
        last = tx.scalar(sa.select(sa.func.max(Fixed.nic_index))
                         .where(Fixed.instance_id == instance_id))
        return 0 if last is None else int(last) + 1

    @staticmethod
    def release(tx: Session, instance_id: str, at: datetime | None = None,
                port_id: str | None = None) -> None:
        """The instance's ports (or only `port_id`, a NIC detached) let go: those compute
        made are deleted and their addresses go back to their networks (`at`: when;
        now), the others are unbound and keep theirs."""
        which = sa.select(Port).where(Port.device_id == instance_id,
                                      Port.device_owner.startswith(COMPUTE_OWNER))
        if port_id is not None:
            which = which.where(Port.id == port_id)
        ports = list(tx.scalars(which))
        unheld = sa.update(Fixed).where(Fixed.instance_id == instance_id)
        if port_id is not None:
            unheld = unheld.where(Fixed.port_id == port_id)
        tx.execute(unheld.values(instance_id=None, nic_index=0))
        made = [p.id for p in ports if p.auto_delete]
        if made:
            free_ports(tx, made, at)
        for port in ports:
            if not port.auto_delete:
                port.device_id = port.device_owner = port.binding_host_id = ""
                port.status = "DOWN"
                port.revision_number += 1
                port.updated_at = _now()

    @staticmethod
    def state_of(db: Database, network_id: str, address: str) -> str:
        """Whether `address` is one of the network's pools', and free: "free", "held"
        or "absent"."""
        with db.reading() as tx:
            row = tx.scalar(sa.select(Fixed).where(Fixed.network_id == network_id,
                                                   Fixed.address == address))
        return "absent" if row is None else "held" if row.port_id else "free"

    def of_instances(self, tx: Session, instance_ids: list[str]) -> dict[str, FixedAllocation]:
        """Each instance's primary address (that of its first NIC)."""
        return {iid: nics[0] for iid, nics in self.nics_of_instances(tx, instance_ids).items()}

    @staticmethod
    def nics_of_instances(tx: Session, instance_ids: list[str]
                          ) -> dict[str, list[FixedAllocation]]:
        """Each instance's addresses, one per NIC, in NIC order (instances without any
        left out)."""
        rows = tx.execute(_JOINED.where(Fixed.instance_id.in_(instance_ids))
                          .order_by(Fixed.instance_id, Fixed.nic_index, Fixed.number))
        out: dict[str, list[FixedAllocation]] = {}
        for fixed, sub, net in rows:
            if fixed.instance_id:
                out.setdefault(fixed.instance_id, []).append(_allocation(fixed, sub, net))
        return out

    @staticmethod
    def held_at(tx: Session, network_id: str, address: str
                ) -> tuple[str, FixedAllocation] | None:
        """Who holds `address` on `network_id`: (instance id, its allocation)."""
        found = tx.execute(_JOINED.where(Fixed.network_id == network_id,
                                         Fixed.address == address,
                                         Fixed.instance_id.is_not(None))).first()
        if found is None:
            return None
        fixed, sub, net = found
        assert fixed.instance_id is not None
        return fixed.instance_id, _allocation(fixed, sub, net)


def free_address(tx: Session, network_id: str) -> sa.Select[Any]:
    """The network's free address released longest ago (fresh ones first, then in
    address order), locked where the engine can."""
    free = (sa.select(Fixed.id).where(Fixed.network_id == network_id,
                                      Fixed.port_id.is_(None))
            .order_by(Fixed.released_at.is_not(None), Fixed.released_at,
                      Fixed.number).limit(1))
    if tx.bind is not None and tx.bind.dialect.name != "sqlite":
        free = free.with_for_update(skip_locked=True)
    return free


def bind_port(tx: Session, port_id: str, instance_id: str) -> int:
    """Bind the port to the instance (``compute:nova``; DOWN until its host has plugged
    it, see `ports_plugged`): its first fixed IP's
    row, now the instance's (409 if another device holds the port)."""
    port = tx.get(Port, port_id, with_for_update=True)
    if port is None:
        raise Conflict(f"Port {port_id} could not be found.")
    if port.device_id and port.device_id != instance_id:
        raise PortInUse(port_id)
    fixed_id = tx.scalar(sa.select(Fixed.id).where(Fixed.port_id == port_id)
                         .order_by(Fixed.number).limit(1))
    if fixed_id is None:
        raise Conflict(f"Port {port_id} requires a FixedIP in order to be used.")
    port.device_id, port.device_owner, port.status = instance_id, "compute:nova", "DOWN"
    port.revision_number += 1
    port.updated_at = _now()
    tx.execute(sa.update(Fixed).where(Fixed.id == fixed_id).values(instance_id=instance_id))
    return fixed_id


def compute_port(network_id: str, instance_id: str, project_id: str,
                 nic_index: int = 0,
                 security_groups: list[str] | None = None) -> models.Port:
    """The port compute makes for an instance asking only for a network (in the
    instance's `security_groups`, ids): DOWN until its host has plugged it, deleted
    with its instance. Its first NIC's has the id and MAC it always had; the others'
    derive from the instance and the network."""
    now = _now()
    port_id = port_id_of(instance_id if nic_index == 0 else f"{instance_id}/{network_id}")
    mac = mac_for(instance_id if nic_index == 0 else port_id)
    return Port(id=port_id, network_id=network_id, project_id=project_id,
                name="", description="", mac_address=mac,
                device_id=instance_id, device_owner="compute:nova", admin_state_up=True,
                status="DOWN", port_security_enabled=True,
                security_groups=list(security_groups or []),
                allowed_address_pairs=[], binding_host_id="", auto_delete=True,
                revision_number=0, created_at=now, updated_at=now)


_JOINED = (sa.select(Fixed, Sub, Net).join(Sub, Sub.id == Fixed.subnet_id)
           .join(Net, Net.id == Fixed.network_id))


def _allocation(fixed: models.FixedIp, sub: models.Subnet,
                net: models.Network) -> FixedAllocation:
    return FixedAllocation(network_id=net.id, label=net.label, cidr=sub.cidr,
                           gateway=sub.gateway_ip or "", external_ip=net.external_ip,
                           address=fixed.address, mac=fixed.mac or "", mtu=net.mtu,
                           dhcp=sub.enable_dhcp, dns_servers=tuple(sub.dns_nameservers),
                           port_id=fixed.port_id or "", nic_index=fixed.nic_index,
                           host_routes=routes_of(sub))


def _lost_race(exc: Exception) -> bool:
    """Whether `exc` says another transaction got there first: a unique key taken, or
    (MariaDB) a deadlock between inserts of racing transactions, rolled back."""
    if isinstance(exc, IntegrityError):
        return True
    code = getattr(getattr(exc, "orig", None), "args", (None,))[0]
    return code in (1205, 1213)  # lock wait timeout, deadlock


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
