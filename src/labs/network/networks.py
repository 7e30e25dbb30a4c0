"""Projects' networks and subnets as the API makes, changes and deletes them, and the
network a new server goes on.

A network is made empty (no addresses); its subnet (Labs networks carry one IPv4
subnet) brings its fixed IPs: a row for every address of the subnet's pools. A
network or subnet whose addresses are held by instances, or that is on a router, is not
deleted (409). Ranges may overlap between networks: each network has a namespace of its
own on its hosts.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.common.errors import BadRequest, Conflict
from labs.network import models, revisions, subnet_checks, tags
from labs.network.errors import NetworkNotFound, SubnetNotFound
from labs.network.fixed_ips import FixedIps, ProjectNetwork, fill
from labs.network.quotas import NetworkQuotas
from labs.network.topology import NetworkRecord, SubnetRecord

if TYPE_CHECKING:
    from labs.network.notices import Notices

Net, Sub, Fixed = models.Network, models.Subnet, models.FixedIp
#: What a network's or subnet's update may change, and the column each is kept in.
NETWORK_COLUMNS = {"name": "label", "description": "description",
                   "admin_state_up": "admin_state_up", "mtu": "mtu", "shared": "shared"}
SUBNET_COLUMNS = {"name": "name", "description": "description", "enable_dhcp": "enable_dhcp",
                  "dns_nameservers": "dns_nameservers", "host_routes": "host_routes"}


class NetworkInUse(Conflict):
    neutron_type = "NetworkInUse"

    def __init__(self, network_id: str) -> None:
        super().__init__(f"Unable to complete operation on network {network_id}. There are "
                         "one or more ports still in use on the network.")


class SubnetInUse(Conflict):
    neutron_type = "SubnetInUse"

    def __init__(self, subnet_id: str) -> None:
        super().__init__(f"Unable to complete operation on subnet {subnet_id}: One or more "
                         "ports have an IP allocation from this subnet.")


class OneSubnetPerNetwork(BadRequest):
    neutron_type = "BadRequest"


class NetworkRequiresSubnet(BadRequest):
    def __init__(self, network_id: str) -> None:
        super().__init__(f"Network {network_id} requires a subnet in order to boot "
                         "instances on.")


class NetworkAmbiguous(Conflict):
    def __init__(self) -> None:
        super().__init__("Multiple possible networks found, use a Network ID to be more "
                         "specific.")


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Networks:
    """`quotas`: the projects' limits on networks and subnets (Neutron's 409 past them);
    `notices`: where each change is told once committed (None: nowhere)."""

    def __init__(self, db: Database, fixed_ips: FixedIps, quotas: NetworkQuotas) -> None:
        self.db = db
        self.fixed_ips = fixed_ips
        self.quotas = quotas
        self.notices: Notices | None = None

    # -- networks ---------------------------------------------------------------------
    def create_network(self, project_id: str, asked: Mapping[str, Any]) -> str:
        """A new empty network of `project_id` (its id), within its quota. Its uplink
        address (a network's own router's, of the public range every project shares)
        only while the project's networks hold fewer than its ``router`` quota of them:
        past it, the network has no way out, as a Neutron network without a router."""
        self.quotas.ready(project_id)
        with self.db.transaction() as tx:
            self.quotas.check_create(tx, project_id, "network")
            uplink = self.fixed_ips.external_ip(tx) if self._uplinks_left(
                tx, project_id) else None
            moment = now()
            row = Net(id=str(uuid.uuid4()), project_id=project_id,
                      label=asked.get("name", ""), description=asked.get("description", ""),
                      shared=bool(asked.get("shared", False)),
                      admin_state_up=bool(asked.get("admin_state_up", True)),
                      mtu=int(asked.get("mtu", 1500)), default_of_project=None,
                      external_ip=uplink, revision_number=0,
                      created_at=moment, updated_at=moment)
            tx.add(row)
            if self.notices is not None:
                self.notices.network(tx, "create", row)
            return row.id

    def _uplinks_left(self, tx: Session, project_id: str) -> bool:
        """Whether the project (its lock held) may take one more public address for a
        network's uplink."""
        limit = self.quotas.limits(tx, project_id)["router"]
        held = tx.scalar(sa.select(sa.func.count()).select_from(Net).where(
            Net.project_id == project_id, Net.external_ip.is_not(None))) or 0
        return limit < 0 or held < limit

    def update_network(self, network_id: str, changes: Mapping[str, Any],
                       expected: int | None = None) -> None:
        """Change the network (at revision `expected` only, if given)."""
        with self.db.transaction() as tx:
            row = tx.get(Net, network_id, with_for_update=True)
            if row is None:
                raise NetworkNotFound(network_id)
            revisions.check(row, expected)
            for key, column in NETWORK_COLUMNS.items():
                if key in changes:
                    setattr(row, column, changes[key])
            row.revision_number += 1
            row.updated_at = now()
            if self.notices is not None:
                self.notices.network(tx, "update", row)

    def delete_network(self, network_id: str, expected: int | None = None) -> None:
        """The network, its subnets, their addresses and tags (409 while any address is
        held; at revision `expected` only, if given)."""
        with self.db.transaction() as tx:
            row = tx.get(Net, network_id, with_for_update=True)
            if row is None:
                raise NetworkNotFound(network_id)
            revisions.check(row, expected)
            if self._routed(tx, models.RouterInterface.network_id == network_id) or \
                    self._ported(tx, network_id) or \
                    not self._free_all(tx, Fixed.network_id == network_id):
                raise NetworkInUse(network_id)
            if self.notices is not None:
                self.notices.network(tx, "delete", row)
            tags.drop(tx, "networks", [network_id])
            tags.drop(tx, "subnets", tx.scalars(
                sa.select(Sub.id).where(Sub.network_id == network_id)))
            tx.execute(sa.delete(Sub).where(Sub.network_id == network_id))
            tx.delete(row)

    @staticmethod
    def _free_all(tx: Session, where: Any) -> bool:
        """Delete the free addresses matching `where`; whether they all were (else one
        is held by a port, perhaps taken by a placement meanwhile: the caller refuses,
        and its rollback keeps them). The delete waits for a placement holding a row's
        lock and then spares the row it took."""
        if tx.scalar(sa.select(Fixed.id).where(where, Fixed.port_id.is_not(None))
                     .limit(1)) is not None:
            return False
        tx.execute(sa.delete(Fixed).where(where, Fixed.port_id.is_(None)))
        return tx.scalar(sa.select(Fixed.id).where(where).limit(1).with_for_update()) is None

    @staticmethod
    def _ported(tx: Session, network_id: str) -> bool:
        """Whether a port is on the network (with or without an address)."""
        return tx.scalar(sa.select(models.Port.id).where(models.Port.network_id == network_id)
                         .limit(1)) is not None

    @staticmethod
    def _routed(tx: Session, where: Any) -> bool:
        """Whether a router has an interface matching `where` (its port is in use)."""
        return tx.scalar(sa.select(models.RouterInterface.id).where(where).limit(1)
                         ) is not None

    # -- subnets ----------------------------------------------------------------------
    def create_subnet(self, network: NetworkRecord, project_id: str,
                      asked: Mapping[str, Any]) -> str:
        """A subnet of `network` (checked: a 400 or 409 for what Labs cannot make), with
        a fixed IP row for every address of its pools, within `project_id`'s quota."""
        net = subnet_checks.cidr(asked["cidr"])
        subnet_checks.usable(net, self.fixed_ips.external, self.fixed_ips.pool)
        gateway = subnet_checks.gateway(net, asked.get("gateway_ip"), "gateway_ip" in asked)
        pools = subnet_checks.pools(net, gateway, asked.get("allocation_pools"))
        dns = subnet_checks.nameservers(asked.get("dns_nameservers") or [])
        routes = subnet_checks.host_routes(asked.get("host_routes") or [], net)
        self.quotas.ready(project_id)
        with self.db.transaction() as tx:
            if tx.get(Net, network.id, with_for_update=True) is None:
                raise NetworkNotFound(network.id)
            taken = tx.scalar(sa.select(Sub.id).where(Sub.network_id == network.id))
            if taken is not None:
                raise OneSubnetPerNetwork(
                    f"Bad subnets request: Labs networks carry one IPv4 subnet; network "
                    f"{network.id} has one already ({taken}).")
            self.quotas.check_create(tx, project_id, "subnet")
            subnet_checks.project_addresses(tx.scalar(
                sa.select(sa.func.count()).select_from(Fixed).join(Sub, Sub.id == Fixed.subnet_id)
                .where(Sub.project_id == project_id)) or 0, pools)
            moment = now()
            row = Sub(id=str(uuid.uuid4()), network_id=network.id, project_id=project_id,
                      name=asked.get("name", ""), description=asked.get("description", ""),
                      ip_version=4, cidr=str(net), gateway_ip=gateway,
                      allocation_pools=pools, dns_nameservers=dns, host_routes=routes,
                      enable_dhcp=bool(asked.get("enable_dhcp", True)), revision_number=0,
                      created_at=moment, updated_at=moment)
            tx.add(row)
            tx.flush()
            fill(tx, row)
            if self.notices is not None:
                self.notices.subnet(tx, "create", row)
            return row.id

    def update_subnet(self, subnet_id: str, changes: Mapping[str, Any],
                      expected: int | None = None) -> None:
        checked = dict(changes)
        if "dns_nameservers" in changes:
            checked["dns_nameservers"] = subnet_checks.nameservers(
                changes["dns_nameservers"] or [])
        if "host_routes" in changes:
            checked["host_routes"] = subnet_checks.host_routes(changes["host_routes"] or [])
        with self.db.transaction() as tx:
            row = tx.get(Sub, subnet_id, with_for_update=True)
            if row is None:
                raise SubnetNotFound(subnet_id)
            revisions.check(row, expected)
            if "host_routes" in checked:
                subnet_checks.host_routes(checked["host_routes"],
                                          ipaddress.IPv4Network(row.cidr))
            for key in ("gateway_ip", "allocation_pools"):
                if key in changes and changes[key] != _current(row, key):
                    raise BadRequest(f"Invalid input for {key}. Reason: a Labs subnet's "
                                     f"{key} is fixed when it is made.")
            for key, column in SUBNET_COLUMNS.items():
                if key in checked:
                    setattr(row, column, checked[key])
            row.revision_number += 1
            row.updated_at = now()
            if self.notices is not None:
                self.notices.subnet(tx, "update", row)

    def delete_subnet(self, subnet_id: str, expected: int | None = None) -> None:
        with self.db.transaction() as tx:
            row = tx.get(Sub, subnet_id, with_for_update=True)
            if row is None:
                raise SubnetNotFound(subnet_id)
            revisions.check(row, expected)
            if self._routed(tx, models.RouterInterface.subnet_id == subnet_id) or \
                    not self._free_all(tx, Fixed.subnet_id == subnet_id):
                raise SubnetInUse(subnet_id)
            if self.notices is not None:
                self.notices.subnet(tx, "delete", row)
            tags.drop(tx, "subnets", [subnet_id])
            tx.delete(row)

    # -- a server's network -----------------------------------------------------------
    def for_server(self, project_id: str, network_id: str | None) -> ProjectNetwork | None:
        """The network a server of `project_id` goes on: `network_id` (the project's or
        a shared one), or with none asked the project's only network; None: the project
        has none yet (its default one is made when the server is placed). A 400 for a
        network it cannot use, 409 when several could be meant."""
        with self.db.reading() as tx:
            query = sa.select(Net)
            if network_id is not None:
                query = query.where(Net.id == network_id, sa.or_(
                    Net.project_id == project_id, Net.shared.is_(True)))
            else:
                query = query.where(Net.project_id == project_id)
            rows = list(tx.scalars(query.limit(2)))
            if network_id is not None and not rows:
                raise BadRequest(f"Network {network_id} could not be found.")
            if not rows:
                return None
            if len(rows) > 1:
                raise NetworkAmbiguous()
            subnet = tx.scalar(sa.select(Sub).where(Sub.network_id == rows[0].id)
                               .order_by(Sub.created_at).limit(1))
            if subnet is None:
                raise NetworkRequiresSubnet(rows[0].id)
            return ProjectNetwork.of(rows[0], subnet)

    def record(self, network_id: str) -> NetworkRecord | None:
        with self.db.reading() as tx:
            row = tx.get(Net, network_id)
            subs = list(tx.scalars(sa.select(Sub).where(Sub.network_id == network_id)))
            return NetworkRecord.of(row, subs) if row is not None else None

    def subnet(self, subnet_id: str) -> SubnetRecord | None:
        with self.db.reading() as tx:
            row = tx.get(Sub, subnet_id)
            return SubnetRecord.of(row) if row is not None else None


def _current(row: models.Subnet, key: str) -> Any:
    return row.gateway_ip if key == "gateway_ip" else row.allocation_pools
