"""An instance's network as the conductor handles it (nova-network's allocate and
deallocate): its fixed IP when it is placed, what its host must plug (the ``network``
part of the build spec, an `InstancePort`), the security rules its host enforces,
release on delete.

The network knows instances only as compute describes them (`PortOwner`), and learns
who is in which security group from compute (`GroupMembers`): it reads none of
compute's tables. Addresses are taken in the caller's transaction, so that placing an
instance and giving it its fixed IP commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from labs.network.fixed_ips import FixedAllocation, FixedIps, ProjectNetwork
from labs.network.floating_ips import FloatingIps
from labs.network.router_parts import router_parts
from labs.network.service import NetworkService
from labs.network.specs import InstancePort, PortSecurity, RouterPart, SecurityRule

#: The live instances of a project and the security groups each names, read in the
#: given transaction: {instance id: group names} (no names: ``default``).
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
    """What building many specs at once reads only once: the rules of each set of groups
    and the members of each project's groups."""

    rules: dict[tuple[str, tuple[str, ...]], tuple[list[SecurityRule], dict[str, list[str]]]] \
        = field(default_factory=dict)
    members: dict[str, dict[str, list[str]]] = field(default_factory=dict)


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
        plugs."""
        fixed = self.network.fixed_ips.allocate(tx, net, owner.id, owner.project_id,
                                                port_id=port_id, address=address,
                                                nic_index=nic_index)
        router = router_parts(tx, [owner.id]).get((owner.id, fixed.network_id))
        return self._port(tx, owner, fixed, [], router=router)

    def specs(self, tx: Session, owners: list[PortOwner]) -> dict[str, list[InstancePort]]:
        """The ports of instances that already have addresses, in NIC order (floating
        IPs go with the port of the address they forward to, or the first)."""
        ids = [o.id for o in owners]
        nics = self.network.fixed_ips.nics_of_instances(tx, ids)
        floating = self.network.floating_ips.of_instances(tx, ids)
        cache = _Lookups()
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
            security=self.security(tx, owner, cache), router=router)

    def security(self, tx: Session, owner: PortOwner,
                 cache: _Lookups | None = None) -> PortSecurity:
        """The rules of the instance's groups and the addresses of the groups they name
        (`cache`: what was read for other instances of the same call)."""
        cache = cache or _Lookups()
        key = (owner.project_id, owner.security_groups)
        if key not in cache.rules:
            cache.rules[key] = self.network.security_groups.enforced_rules(
                tx, owner.project_id, list(owner.security_groups))
        rules, wanted = cache.rules[key]
        members: dict[str, list[str]] = {}
        if wanted:
            if owner.project_id not in cache.members:
                cache.members[owner.project_id] = self._members(tx, owner.project_id)
            members = {name: cache.members[owner.project_id].get(name, []) for name in wanted}
        return PortSecurity(rules=tuple(rules), members=members)

    def _members(self, tx: Session, project_id: str) -> dict[str, list[str]]:
        """{group name: the fixed IPs of the project's servers in it}."""
        peers = self.group_members(tx, project_id)
        addresses = self.network.fixed_ips.nics_of_instances(tx, list(peers))
        out: dict[str, list[str]] = {}
        for instance_id, names in peers.items():
            for fixed in addresses.get(instance_id, []):
                for name in names or ["default"]:
                    out.setdefault(name, []).append(fixed.address)
        return {name: sorted(ips) for name, ips in out.items()}

    @staticmethod
    def release(tx: Session, instance_id: str) -> None:
        release_addresses(tx, instance_id)
