"""An instance's network as the conductor handles it (nova-network's allocate and
deallocate): its fixed IP when it is placed, what its host must plug (the ``network``
part of the build spec), the security rules its host enforces, release on delete.

A server asked for with ``networks: none`` gets no network; any other request
(``auto``, or none given) gets an address on its project's network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.compute import models
from labs.network import models as net_models
from labs.network.fixed_ips import FixedAllocation
from labs.network.service import NetworkService
from labs.network.specs import SecurityRule

Inst = models.Instance


@dataclass
class _Lookups:
    """What building many specs at once reads only once: the rules of each set of groups
    and the members of each project's groups."""

    rules: dict[tuple[str, tuple[str, ...]], tuple[list[SecurityRule], dict[str, list[str]]]] \
        = field(default_factory=dict)
    members: dict[str, dict[str, list[str]]] = field(default_factory=dict)


def wants_network(row: models.Instance) -> bool:
    return bool(row.requested_networks != "none")


class InstanceNetworking:
    def __init__(self, db: Database, network: NetworkService) -> None:
        self.db = db
        self.network = network

    def prepare(self, project_id: str) -> net_models.Network:
        """The project's network and default group, made (and committed) if missing:
        before the transaction that places an instance."""
        self.network.security_groups.ensure_default(project_id)
        return self.network.fixed_ips.ensure_network(self.db, project_id)

    def allocate(self, tx: Session, row: models.Instance, net: net_models.Network
                 ) -> dict[str, Any]:
        """Give the instance its address (recorded in its ``addresses``); the spec its
        host plugs."""
        fixed = self.network.fixed_ips.allocate(tx, net, row.id)
        row.addresses = {fixed.label: [fixed.as_address()]}
        return self._spec(tx, row, fixed, [])

    def specs(self, tx: Session, rows: list[models.Instance]) -> dict[str, dict[str, Any]]:
        """The network part of the specs of instances that already have addresses."""
        ids = [r.id for r in rows]
        fixed = self.network.fixed_ips.of_instances(tx, ids)
        floating = self.network.floating_ips.of_instances(tx, ids)
        cache = _Lookups()
        return {r.id: self._spec(tx, r, fixed[r.id],
                                 [f.address for f in floating.get(r.id, [])], cache)
                for r in rows if r.id in fixed}

    def _spec(self, tx: Session, row: models.Instance, fixed: FixedAllocation,
              floating: list[str], cache: _Lookups | None = None) -> dict[str, Any]:
        return {"network_id": fixed.network_id, "label": fixed.label, "cidr": fixed.cidr,
                "gateway": fixed.gateway, "external_ip": fixed.external_ip,
                "project_id": row.project_id, "domain": self.network.options.dns_domain,
                "dns_domain": self.network.dns_domain(row.project_name), "mtu": 1500,
                "port_id": row.id, "address": fixed.address, "mac": fixed.mac,
                "hostname": row.hostname, "floating_ips": floating,
                "security": self.security(tx, row, cache)}

    def security(self, tx: Session, row: models.Instance,
                 cache: _Lookups | None = None) -> dict[str, Any]:
        """The rules of the instance's groups and the addresses of the groups they name
        (`cache`: what was read for other instances of the same call)."""
        cache = cache or _Lookups()
        names = tuple(row.security_groups or [])
        if (row.project_id, names) not in cache.rules:
            cache.rules[(row.project_id, names)] = self.network.security_groups.enforced_rules(
                tx, row.project_id, list(names))
        rules, wanted = cache.rules[(row.project_id, names)]
        members: dict[str, list[str]] = {}
        if wanted:
            if row.project_id not in cache.members:
                cache.members[row.project_id] = self._group_members(tx, row.project_id)
            members = {name: cache.members[row.project_id].get(name, []) for name in wanted}
        return {"rules": [asdict(rule) for rule in rules], "members": members}

    def _group_members(self, tx: Session, project_id: str) -> dict[str, list[str]]:
        """{group name: the fixed IPs of the project's servers in it}."""
        peers = list(tx.execute(sa.select(Inst.id, Inst.security_groups).where(
            Inst.project_id == project_id, Inst.deleted.is_(False))))
        addresses = self.network.fixed_ips.of_instances(tx, [p.id for p in peers])
        out: dict[str, list[str]] = {}
        for peer in peers:
            if peer.id in addresses:
                for name in peer.security_groups or ["default"]:
                    out.setdefault(name, []).append(addresses[peer.id].address)
        return {name: sorted(ips) for name, ips in out.items()}

    def hosts_of_project(self, tx: Session, project_id: str) -> dict[str, list[str]]:
        """The hosts running the project's instances: {host: [instance ids]}."""
        out: dict[str, list[str]] = {}
        for iid, host in tx.execute(sa.select(Inst.id, Inst.host).where(
                Inst.project_id == project_id, Inst.deleted.is_(False),
                Inst.host.is_not(None))):
            if host is not None:
                out.setdefault(host, []).append(iid)
        return out

    def release(self, tx: Session, instance_id: str) -> None:
        self.network.floating_ips.release_instance(tx, instance_id)
        self.network.fixed_ips.release(tx, instance_id)
