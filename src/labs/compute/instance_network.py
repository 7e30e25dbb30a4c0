"""Compute's side of its instances' network: what the network service learns about an
instance (its id, project, hostname and security groups, and who else is in its groups)
and what compute keeps of the answer (the server's ``addresses``; the ``network`` part of
its build spec, as a message).

The conductor and the compute API both use it; the network's tables are read only by
the network service, compute's only here.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.common.errors import BadRequest, Forbidden, NotFound
from labs.compute import models
from labs.compute.payloads import utcnow
from labs.network.errors import PortInUse
from labs.network.fixed_ips import ProjectNetwork
from labs.network.instance_ports import InstancePorts, PortOwner, release_addresses
from labs.network.instance_spec import MAX_PORTS, InstancePort, ports_addresses, ports_message
from labs.network.ports import PortRecord, ports_plugged
from labs.network.service import NetworkService

Inst = models.Instance

__all__ = ["InstanceNetworking", "check_requested_networks", "hosts_of_project",
           "release_addresses", "wants_network"]


def wants_network(row: models.Instance) -> bool:
    """A server asked for with ``networks: none`` gets no network; any other request
    gets an address on the network asked for, or (``auto``, or none given) on its
    project's network."""
    return bool(row.requested_networks != "none")


def requested(row: models.Instance) -> list[dict[str, Any]]:
    """What the server asked for, one entry per NIC (``uuid``, ``port``, ``fixed_ip``);
    [{}] for one NIC on its project's network."""
    asked = row.requested_networks
    if isinstance(asked, list) and asked and all(isinstance(x, dict) for x in asked):
        return [{k: v for k, v in wanted.items() if v} for wanted in asked]
    return [{}]


def check_requested_networks(network: NetworkService, project_id: str,
                             networks: Any, count: int = 1) -> None:
    """The networks or ports a new server asks for (one NIC each, at most MAX_PORTS)
    exist and can hold it, each network once, or (none asked) the project's network is
    not ambiguous (a 400, or Nova's 409); a port is for one of `count` servers only."""
    if count > 1 and isinstance(networks, list) and any(w.get("port") for w in networks):
        raise BadRequest("Unable to launch multiple instances with a single configured "
                         "port ID. Please launch your instance one by one with different "
                         "ports.")
    if networks == "none":
        return
    if networks in (None, "auto", []):
        network.networks.for_server(project_id, None)
        check_port_quota(network, project_id, count)
        return
    if len(networks) > MAX_PORTS:
        raise BadRequest(f"A server has at most {MAX_PORTS} network interfaces: "
                         f"{len(networks)} were asked for.")
    seen: set[str] = set()
    for wanted in networks:
        if wanted.get("port"):
            port = _check_port(network, project_id, wanted["port"])
            net_id = port.network_id
        elif not wanted.get("uuid"):
            raise BadRequest("A requested network needs a uuid.")
        else:
            net = network.networks.for_server(project_id, wanted["uuid"])
            assert net is not None
            if wanted.get("fixed_ip"):
                check_fixed_ip(network, net, wanted["fixed_ip"], project_id)
            net_id = net.id
        if net_id in seen:
            raise BadRequest(f"Network {net_id} is asked for twice: a Labs server has one "
                             "network interface per network.")
        seen.add(net_id)
    check_port_quota(network, project_id, count * sum(
        1 for wanted in networks if not wanted.get("port")))


def check_port_quota(network: NetworkService, project_id: str, needed: int) -> None:
    """Nova's 403 when the project's ``port`` quota has no room for the `needed` ports
    compute would make for new servers (checked before, as Nova does: the ports are
    made when the servers are placed)."""
    with network.db.reading() as tx:
        limit = network.quotas.limits(tx, project_id)["port"]
        used = network.quotas.used(tx, project_id)["port"]
    if needed and 0 <= limit < used + needed:
        raise Forbidden(f"Maximum number of ports exceeded: {needed} more asked for, "
                        f"{max(limit - used, 0)} left of {limit}.")


def _check_port(network: NetworkService, project_id: str, port_id: str) -> PortRecord:
    """Nova's 400 for a port the project does not have or that has no address, 409 for
    one another device holds."""
    port = network.ports.find(project_id, port_id)
    if port is None:
        raise BadRequest(f"Port {port_id} could not be found.")
    if port.device_id:
        raise PortInUse(port_id)
    if not port.fixed_ips:
        raise BadRequest(f"Port {port_id} requires a FixedIP in order to be used.")
    return port


def check_fixed_ip(network: NetworkService, net: ProjectNetwork, address: str,
                   project_id: str | None = None) -> None:
    """Nova's 400 for an address that is not a free one of the network's pools; a 403
    when the network is not `project_id`'s (given: the server's project, the caller no
    admin), as Neutron's ``create_port:fixed_ips:ip_address``: on a shared network
    another project takes the next free address, not one someone else just gave up."""
    if project_id is not None and net.project_id != project_id:
        raise Forbidden(f"Policy does not allow choosing a fixed IP on network {net.id} "
                        "of another project.")
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        raise BadRequest(f"Invalid fixed IP address ({address})") from None
    state = network.fixed_ips.state_of(network.db, net.id, address)
    if state == "absent":
        raise BadRequest(f"Fixed IP address {address} is not in the allocation pools of "
                         f"network {net.id}.")
    if state == "held":
        raise BadRequest(f"Fixed IP address {address} is already in use.")


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


def readdress(tx: Session, network: NetworkService, row: models.Instance, *,
              keep: bool = True) -> None:
    """Rewrite the server's ``addresses`` from its fixed IPs (every NIC's, in order) and
    the floating IPs forwarded to them (a server without any keeps what it had, or with
    `keep` false has none: its last port was deleted)."""
    ports = InstancePorts(network, group_members).specs(tx, [port_owner(row)]).get(row.id)
    if ports or not keep:
        row.addresses = ports_addresses(ports) if ports else {}
        row.updated_at = utcnow()


class InstanceNetworking:
    """The network service's instance ports, for compute's rows."""

    def __init__(self, db: Database, network: NetworkService) -> None:
        self.db = db
        self.network = network
        self.ports = InstancePorts(network, group_members)

    def prepare(self, row: models.Instance) -> list[ProjectNetwork]:
        """The server's networks, one per NIC asked for (the one a NIC was asked on or
        its port's, or its project's, made and committed if missing) and its project's
        default group: before the transaction that places it."""
        nets = []
        for wanted in requested(row):
            port_id = wanted.get("port")
            if port_id is not None:
                port = self.network.ports.find(row.project_id, port_id)
                if port is None:
                    raise NotFound(f"Port {port_id} could not be found.")
                nets.append(self.ports.prepare(row.project_id, port.network_id))
            else:
                nets.append(self.ports.prepare(row.project_id, wanted.get("uuid")))
        return nets

    def allocate(self, tx: Session, row: models.Instance, nets: list[ProjectNetwork]
                 ) -> dict[str, Any]:
        """Give the instance its addresses, one per NIC (recorded in its
        ``addresses``); the ``network`` part of its build spec."""
        owner = port_owner(row)
        ports = [self.ports.allocate(tx, owner, net, port_id=wanted.get("port"),
                                     address=wanted.get("fixed_ip"), nic_index=index)
                 for index, (wanted, net) in enumerate(zip(requested(row), nets,
                                                           strict=True))]
        row.addresses = ports_addresses(ports)
        message = ports_message(ports)
        assert message is not None
        return message

    def attach(self, tx: Session, row: models.Instance, net: ProjectNetwork, *,
               port_id: str | None = None, address: str | None = None) -> InstancePort:
        """Give the running server one more NIC (its port `port_id`, or a port made on
        `net`, on `address` if given): its port, after the server's others."""
        index = self.network.fixed_ips.next_nic_index(tx, row.id)
        return self.ports.allocate(tx, port_owner(row), net, port_id=port_id,
                                   address=address, nic_index=index)

    def specs(self, tx: Session, rows: list[models.Instance]) -> dict[str, dict[str, Any]]:
        """The ``network`` part of the specs of instances that already have addresses."""
        ports = self.ports.specs(tx, [port_owner(row) for row in rows])
        return {iid: message for iid, mine in ports.items()
                if (message := ports_message(mine)) is not None}

    def ports_of(self, tx: Session, row: models.Instance) -> list[InstancePort]:
        """The server's ports as its host plugs them, in NIC order."""
        return self.ports.specs(tx, [port_owner(row)]).get(row.id, [])

    @staticmethod
    def ports_plugged(tx: Session, instance_id: str, running: bool,
                      host: str | None = None) -> None:
        """The server's ports: ACTIVE while it runs (on `host`), DOWN while stopped."""
        ports_plugged(tx, instance_id, running, host)

    @staticmethod
    def hosts_of_project(tx: Session, project_id: str) -> dict[str, list[str]]:
        return hosts_of_project(tx, project_id)
