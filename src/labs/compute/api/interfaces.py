"""A server's network interfaces (Nova's os-interface): its ports, listed and shown;
one more attached (a port of the project's, or one made on a network) and one taken
away, while the server exists.

Attaching binds the port (or makes one, within the project's ``port`` quota: Nova's
403 past it) in the API's own transaction, then asks the server's agent to plug it and
hot-plug the NIC (a call: the answer says whether the VM has it); if the agent cannot,
the port is let go again (after asking the agent to take the NIC back when it did not
answer in time: it may give it yet). Detaching asks the agent first, then lets the port
go: a port compute made for the server is deleted with its address, a port the project
made is unbound and kept.
"""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy.orm import Session

from labs.common.bus import BusError, BusTimeout
from labs.common.context import RequestContext
from labs.common.errors import BadRequest, Conflict, Forbidden, LabsError, NotFound
from labs.compute import actions, models, states
from labs.compute.api.servers import ServerService
from labs.compute.instance_network import InstanceNetworking, check_fixed_ip, readdress
from labs.network.errors import OverQuota, PortInUse, PortNotFound
from labs.network.fixed_ips import FixedIps, ProjectNetwork
from labs.network.instance_spec import MAX_PORTS
from labs.network.ports import PortRecord

#: The states a server takes or gives up an interface in.
CHANGEABLE = frozenset({states.ACTIVE, states.STOPPED})


class AttachFailed(LabsError):
    """The host could not give the server the interface (Nova's 500)."""

    code = 500


class ServerInterfaces:
    def __init__(self, servers: ServerService) -> None:
        self.servers = servers
        self.db = servers.db
        self.network = servers.network
        self.networking = InstanceNetworking(servers.db, servers.network)

    def list(self, ctx: RequestContext, server_id: str) -> list[PortRecord]:
        """The server's ports, in NIC order (404 for a server the caller cannot see)."""
        with self.db.reading() as tx:
            row = self.servers.find(tx, ctx, server_id)
            order = [fixed.port_id for fixed in
                     self.network.fixed_ips.nics_of_instances(tx, [row.id]).get(row.id, [])]
        ports = {p.id: p for p in self.network.ports.list(
            None, every_project=True, filters={"device_id": [row.id]})
            if p.instance_id == row.id}
        return [ports[port_id] for port_id in order if port_id in ports]

    def show(self, ctx: RequestContext, server_id: str, port_id: str) -> PortRecord:
        for port in self.list(ctx, server_id):
            if port.id == port_id:
                return port
        raise PortNotFound(port_id)

    def attach(self, ctx: RequestContext, server_id: str, asked: dict[str, Any]) -> PortRecord:
        """Give the server the interface `asked` (``net_id``, ``port_id``,
        ``fixed_ips``) and return its port."""
        port_id, net, address = self._resolve(ctx, server_id, asked)
        with self.db.transaction() as tx:
            row = self._changeable(tx, ctx, server_id)
            nics = self.network.fixed_ips.nics_of_instances(tx, [row.id]).get(row.id, [])
            if len(nics) >= MAX_PORTS:
                raise BadRequest(f"Instance {row.id} has {len(nics)} network interfaces "
                                 f"already, the most a server has.")
            if any(fixed.network_id == net.id for fixed in nics):
                raise Conflict(f"Instance {row.id} has an interface on network {net.id} "
                               "already: a Labs server has one per network.")
            if port_id is None:  # a port made for it: within the project's port quota
                try:
                    self.network.quotas.check_create(tx, row.project_id, "port")
                except OverQuota as exc:
                    raise Forbidden(f"Maximum number of ports exceeded: {exc}") from exc
            port = self.networking.attach(tx, row, net, port_id=port_id, address=address)
            readdress(tx, self.network, row)
            actions.start_action(tx, ctx, row.id, "attach_interface", row.project_id)
            host, iid, running = row.host, row.id, row.vm_state == states.ACTIVE
        assert host is not None
        attached = self._port_of(iid, port.address)
        try:
            self.servers.agents.attach_interface(host, iid, port.to_message())
        except BusError as exc:
            if isinstance(exc, BusTimeout):  # the host may give it yet: take it back
                with contextlib.suppress(BusError):
                    self.servers.agents.detach_interface(host, iid, port.port_id)
            self._let_go(iid, attached.id)
            raise AttachFailed(f"Failed to attach network adapter device to {iid}: "
                               f"{exc}") from exc
        with self.db.transaction() as tx:  # plugged: ACTIVE while the server runs
            self.networking.ports_plugged(tx, iid, running, host)
        now = self.network.ports.list(None, every_project=True, filters={"id": [attached.id]})
        return now[0] if now else attached

    def detach(self, ctx: RequestContext, server_id: str, port_id: str) -> None:
        """Take the interface of `port_id` from the server."""
        with self.db.transaction() as tx:
            row = self._changeable(tx, ctx, server_id)
            nics = self.network.fixed_ips.nics_of_instances(tx, [row.id]).get(row.id, [])
            fixed = next((f for f in nics if f.port_id == port_id), None)
            if fixed is None:
                raise PortNotFound(port_id)
            actions.start_action(tx, ctx, row.id, "detach_interface", row.project_id)
            host, iid = row.host, row.id
            host_port = iid if fixed.nic_index == 0 else port_id
        if host is not None:
            try:
                self.servers.agents.detach_interface(host, iid, host_port)
            except BusError as exc:
                raise AttachFailed(f"Failed to detach network adapter device from {iid}: "
                                   f"{exc}") from exc
        self._let_go(iid, port_id)

    # -- helpers -----------------------------------------------------------------------
    def _resolve(self, ctx: RequestContext, server_id: str, asked: dict[str, Any]
                 ) -> tuple[str | None, ProjectNetwork, str | None]:
        """The port, network and address an attach asks for (404 for a port or network
        the server's project cannot use, 409 for a port another device holds)."""
        with self.db.reading() as tx:
            row = self.servers.find(tx, ctx, server_id)
            project_id = row.project_id
        port_id, net_id = asked.get("port_id"), asked.get("net_id")
        fixed_ips = asked.get("fixed_ips") or []
        if port_id and net_id:
            raise BadRequest("Must not input both network_id and port_id")
        if fixed_ips and not net_id:
            raise BadRequest("Must input network_id when request IP address")
        if len(fixed_ips) > 1:
            raise BadRequest("Labs gives an interface one fixed IP: ask for one.")
        address = fixed_ips[0].get("ip_address") if fixed_ips else None
        if port_id:
            port = self.network.ports.find(project_id, port_id)
            if port is None:
                raise PortNotFound(port_id)
            if port.device_id:
                raise PortInUse(port_id)
            if not port.fixed_ips:
                raise BadRequest(f"Port {port_id} requires a FixedIP in order to be used.")
            net_id = port.network_id
        try:
            net = self.networking.ports.prepare(project_id, net_id)
        except BadRequest as exc:
            raise NotFound(f"Network {net_id} could not be found.") from exc
        if address is not None:
            check_fixed_ip(self.network, net, address,
                           None if ctx.is_admin else project_id)
        if port_id is None:
            self.network.quotas.ready(project_id)
        return port_id, net, address

    def _changeable(self, tx: Session, ctx: RequestContext, server_id: str
                    ) -> models.Instance:
        row = self.servers.find_changeable(tx, ctx, server_id, lock=True)
        if row.vm_state not in CHANGEABLE or row.task_state is not None:
            raise Conflict(f"Cannot 'attach_interface' instance {row.id} while it is in "
                           f"vm_state {row.vm_state}")
        if row.host is None:
            raise Conflict(f"Instance {row.id} has no host yet.")
        return row

    def _port_of(self, instance_id: str, address: str) -> PortRecord:
        for port in self.network.ports.list(None, every_project=True,
                                            filters={"device_id": [instance_id]}):
            if address in (a for _, a in port.fixed_ips):
                return port
        raise NotFound(f"No port of instance {instance_id} holds {address}.")

    def _let_go(self, instance_id: str, port_id: str) -> None:
        with self.db.transaction() as tx:
            for fixed in self.network.fixed_ips.nics_of_instances(tx, [instance_id]).get(
                    instance_id, []):
                if fixed.port_id == port_id:
                    self.network.floating_ips.release_fixed(tx, instance_id, fixed.address)
            FixedIps.release(tx, instance_id, port_id=port_id)
            row = tx.get(models.Instance, instance_id)
            if row is not None:
                readdress(tx, self.network, row, keep=False)
