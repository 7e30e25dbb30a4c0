"""An instance's network as the conductor handles it (nova-network's allocate and
deallocate): its fixed IP when it is placed, what its host must plug (the ``network``
part of the build spec, an `InstancePort`), the security rules its host enforces,
release on delete.

The rules a host enforces are those of the instance's port (Neutron's): its security
groups (a port made for a server starts with the server's), its port security and
its allowed address pairs; the members of a remote group are the ports in it. The
network knows instances only as compute describes them (`PortOwner`): it reads none of
compute's tables. Addresses are taken in the caller's transaction, so that placing an
instance and giving it its fixed IP commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.network import models
from labs.network.fixed_ips import FixedAllocation, FixedIps, ProjectNetwork
from labs.network.floating_ips import FloatingIps
from labs.network.instance_spec import AddressPair, InstancePort, PortSecurity, RouterPart
from labs.network.ports import COMPUTE_OWNER
from labs.network.router_parts import router_parts
from labs.network.security_groups import DEFAULT, NOTHING_OUT
from labs.network.service import NetworkService
from labs.network.specs import SecurityRule

Port, Fixed, Group = models.Port, models.FixedIp, models.SecurityGroup

#: The live instances of a project and the security groups each names, read in the
#: given transaction: {instance id: group names} (no names: ``default``). Kept for its
#: callers: the members of a group are now the ports in it.
GroupMembers = Callable[[Session, str], Mapping[str, Sequence[str]]]


@dataclass(frozen=True)
class PortOwner:
    """An instance as its network sees it."""

    id: str
    project_id: str
    project_name: str
    hostname: str
    security_groups: tuple[str, ...] = ()


@dataclass
class _Lookups:
    """What building many specs at once reads only once: the rules of each set of groups,
    the members of each project's groups, and (`ports`, when read up front) the ports
    compute made for the instances, by id, with the names of the groups they are in."""

    rules: dict[tuple[str, tuple[str, ...]], tuple[list[SecurityRule], dict[str, list[str]]]] \
        = field(default_factory=dict)
    members: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    ports: dict[str, models.Port] | None = None
    group_names: dict[str, str] = field(default_factory=dict)


def release_addresses(tx: Session, instance_id: str, at: datetime | None = None) -> None:
    """A deleted instance's addresses go back to the pools (floating ones stay with its
    project); `at`: when (now if not given)."""
    FloatingIps.release_instance(tx, instance_id, at)
    FixedIps.release(tx, instance_id, at)


def host_port_id(instance_id: str, fixed: FixedAllocation) -> str:
    """The id a host knows an instance's port by (its tap's name derives from it): the
    instance's own for its first NIC (as hosts have always known it), the port's for the
    others."""
    return instance_id if fixed.nic_index == 0 or not fixed.port_id else fixed.port_id


class InstancePorts:
    def __init__(self, network: NetworkService, group_members: GroupMembers) -> None:
        self.network = network
        self.group_members = group_members

    def prepare(self, project_id: str, network_id: str | None = None) -> ProjectNetwork:
        """The network an instance goes on (`network_id`, or the project's only one, or
        its default one, made and committed if missing) and the project's default
        group: before the transaction that places it."""
        self.network.security_groups.ensure_default(project_id)
        chosen = self.network.networks.for_server(project_id, network_id)
        return chosen or self.network.fixed_ips.ensure_network(self.network.db, project_id)

    def allocate(self, tx: Session, owner: PortOwner, net: ProjectNetwork, *,
                 port_id: str | None = None, address: str | None = None,
                 nic_index: int = 0) -> InstancePort:
        """Give the instance its address on `net` (that of the port `port_id`, bound to
        it now, or `address`, or a free one) as its NIC `nic_index`; the port its host
        plugs (a port made for it is in its security groups)."""
        groups = None if port_id is not None else group_ids(
            tx, owner.project_id, owner.security_groups)
        fixed = self.network.fixed_ips.allocate(tx, net, owner.id, owner.project_id,
                                                port_id=port_id, address=address,
                                                nic_index=nic_index, security_groups=groups)
        router = router_parts(tx, [owner.id]).get((owner.id, fixed.network_id))
        return self._port(tx, owner, fixed, [], router=router)

    def specs(self, tx: Session, owners: list[PortOwner]) -> dict[str, list[InstancePort]]:
        """The ports of instances that already have addresses, in NIC order (floating
        IPs go with the port of the address they forward to, or the first)."""
        ids = [o.id for o in owners]
        nics = self.network.fixed_ips.nics_of_instances(tx, ids)
        floating = self.network.floating_ips.of_instances(tx, ids)
        cache = _Lookups()
        cache.ports = {port.id: port for port in tx.scalars(sa.select(Port).where(
            Port.device_id.in_(ids), Port.device_owner.startswith(COMPUTE_OWNER)))}
        cache.group_names = self.network.security_groups.names(tx, {
            group for port in cache.ports.values() for group in port.security_groups or []})
        routers = router_parts(tx, ids)
        out: dict[str, list[InstancePort]] = {}
        for owner in owners:
            if owner.id not in nics:
                continue
            mine = floating.get(owner.id, [])
            addresses = {fixed.address for fixed in nics[owner.id]}
            out[owner.id] = [
                self._port(tx, owner, fixed, [
                    f.address for f in mine if f.fixed_ip == fixed.address
                    or (index == 0 and f.fixed_ip not in addresses)], cache,
                    routers.get((owner.id, fixed.network_id)))
                for index, fixed in enumerate(nics[owner.id])]
        return out

    def _port(self, tx: Session, owner: PortOwner, fixed: FixedAllocation,
              floating: list[str], cache: _Lookups | None = None,
              router: RouterPart | None = None) -> InstancePort:
        return InstancePort(
            network_id=fixed.network_id, label=fixed.label, cidr=fixed.cidr,
            gateway=fixed.gateway, external_ip=fixed.external_ip,
            project_id=owner.project_id, domain=self.network.options.dns_domain,
            dns_domain=self.network.dns_domain(owner.project_name),
            port_id=host_port_id(owner.id, fixed), address=fixed.address, mac=fixed.mac,
            hostname=owner.hostname, floating_ips=tuple(floating), mtu=fixed.mtu,
            dhcp=fixed.dhcp, dns_servers=fixed.dns_servers,
            host_routes=fixed.host_routes, router=router,
            security=self.security(tx, owner, cache, fixed.port_id or None))

    def security(self, tx: Session, owner: PortOwner, cache: _Lookups | None = None,
                 port_id: str | None = None) -> PortSecurity:
        """What the host enforces for the instance's port: the rules of the port's
        groups and the addresses of the groups they name, its port security and address
        pairs, for its port `port_id` (default: its first); `cache`: what was read for
        other instances of the same call. An instance without a port row has its own
        groups' rules."""
        cache = cache or _Lookups()
        port = self._compute_port(tx, owner, cache, port_id)
        if port is not None and not port.port_security_enabled:
            return PortSecurity(enabled=False)
        names = owner.security_groups if port is None else self._group_names(
            tx, cache, port.security_groups or [])
        key = (owner.project_id, names if port is None or names else ("",))
        if key not in cache.rules:
            cache.rules[key] = self.network.security_groups.enforced_rules(
                tx, owner.project_id, list(names)) if names or port is None \
                else ([NOTHING_OUT], {})  # a port in no group: nothing in or out
        rules, wanted = cache.rules[key]
        members: dict[str, list[str]] = {}
        if wanted:
            if owner.project_id not in cache.members:
                cache.members[owner.project_id] = self._members(tx, owner.project_id)
            members = {name: cache.members[owner.project_id].get(name, []) for name in wanted}
        pairs = tuple(AddressPair.of(p) for p in (port.allowed_address_pairs or [])
                      ) if port is not None else ()
        return PortSecurity(rules=tuple(rules), members=members, allowed_pairs=pairs)

    @staticmethod
    def _compute_port(tx: Session, owner: PortOwner, cache: _Lookups,
                      port_id: str | None) -> models.Port | None:
        """The port compute made for the instance: `port_id`, or its first."""
        if port_id is not None and cache.ports is not None:
            found = cache.ports.get(port_id)
            return found if found is not None and found.device_id == owner.id else None
        which = sa.select(Port).where(Port.device_id == owner.id,
                                      Port.device_owner.startswith(COMPUTE_OWNER))
        if port_id is not None:
            which = which.where(Port.id == port_id)
        return tx.scalar(which.order_by(Port.created_at).limit(1))

    def _group_names(self, tx: Session, cache: _Lookups,
                     group_ids: Sequence[str]) -> tuple[str, ...]:
        missing = [g for g in group_ids if g not in cache.group_names]
        if missing:
            cache.group_names.update(self.network.security_groups.names(tx, missing))
        return tuple(sorted(cache.group_names[g] for g in group_ids
                            if g in cache.group_names))

    def _members(self, tx: Session, project_id: str) -> dict[str, list[str]]:
        """{group name: the fixed IPs of the project's ports in it}."""
        names = {g.id: g.name for g in tx.scalars(sa.select(Group).where(
            Group.project_id == project_id))}
        out: dict[str, set[str]] = {}
        for groups, address in tx.execute(
                sa.select(Port.security_groups, Fixed.address)
                .join(Fixed, Fixed.port_id == Port.id)
                .where(Port.project_id == project_id, Port.port_security_enabled)):
            for group_id in groups or []:
                if group_id in names:
                    out.setdefault(names[group_id], set()).add(address)
        return {name: sorted(ips) for name, ips in out.items()}

    @staticmethod
    def release(tx: Session, instance_id: str) -> None:
        release_addresses(tx, instance_id)


def group_ids(tx: Session, project_id: str, names: Sequence[str]) -> list[str]:
    """The ids of the project's groups named `names` (none: ``default``), in order."""
    wanted = list(names) or [DEFAULT]
    found = dict(tx.execute(sa.select(Group.name, Group.id).where(
        Group.project_id == project_id, Group.name.in_(wanted))).all())
    return [found[name] for name in wanted if name in found]


def server_group_changed(tx: Session, instance_id: str, group_id: str,
                         member: bool) -> None:
    """A server joined (`member`) or left a group: so do its ports (those with port
    security: the others have no groups). Its ports are those holding its addresses: a
    port of another project's that only names it as its ``device_id`` is not one."""
    held = sa.select(Fixed.port_id).where(Fixed.instance_id == instance_id)
    for port in tx.scalars(sa.select(Port).where(
            Port.device_id == instance_id, Port.device_owner.startswith(COMPUTE_OWNER),
            Port.id.in_(held), Port.port_security_enabled).with_for_update()):
        groups = [g for g in port.security_groups or [] if g != group_id]
        port.security_groups = [*groups, group_id] if member else groups
        port.revision_number += 1
        port.updated_at = datetime.now(UTC).replace(tzinfo=None)


def ports_in_group(tx: Session, project_id: str, group_id: str) -> bool:
    """Whether one of the project's ports is in the group (it cannot go then)."""
    return any(group_id in (groups or []) for groups in tx.scalars(
        sa.select(Port.security_groups).where(Port.project_id == project_id)))
