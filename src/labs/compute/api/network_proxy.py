"""A project's security groups and floating IPs as the compute API changes them (Nova's
nova-network proxies): which servers name a group, a server joining or leaving a group,
a floating IP associated with a server or taken from it, and telling the hosts.

The network service keeps the rows and their rules; this layer adds what needs the
servers: a group a live server names cannot go, a server's ``security_groups`` (and
its ports' groups, which its host enforces) and ``addresses`` follow its memberships
and floating IPs, and every change that alters what
a host enforces is cast to that host (``refresh_network``). A cast that fails is logged:
the change is recorded, and the agent picks it up when it next asks for its specs.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.context import RequestContext
from labs.common.errors import BadRequest, NotFound
from labs.compute import models
from labs.compute.api.servers import ServerService
from labs.compute.instance_network import hosts_of_project, readdress
from labs.compute.payloads import utcnow
from labs.network.floating_ips import FloatingIpRecord
from labs.network.instance_ports import ports_in_group, server_group_changed
from labs.network.nova_security_groups import NovaSecurityGroups, RuleRequest
from labs.network.security_groups import DEFAULT
from labs.network.security_rules import GroupRecord
from labs.network.topology import NetworkRecord

log = logging.getLogger("labs.compute.api.network_proxy")
Inst = models.Instance


class NetworkProxy:
    def __init__(self, servers: ServerService) -> None:
        self.servers = servers
        self.db = servers.db
        self.agents = servers.agents
        self.network = servers.network
        self.groups = NovaSecurityGroups(servers.network.security_groups)
        self.floating = servers.network.floating_ips
        #: The network's quotas: the same limits as the network API's.
        self.quota = servers.network.quotas

    # -- networks (os-networks) --------------------------------------------------------
    def list_networks(self, ctx: RequestContext) -> list[NetworkRecord]:
        """The networks the caller sees, as Neutron lists them to it (an admin: all)."""
        return self.network.topology.networks(ctx.project_id, every_project=ctx.is_admin)

    def get_network(self, ctx: RequestContext, network_id: str) -> NetworkRecord:
        for found in self.list_networks(ctx):
            if found.id == network_id:
                return found
        raise NotFound(f"Network {network_id} could not be found.")

    # -- security groups ---------------------------------------------------------------
    def list_groups(self, ctx: RequestContext, all_projects: bool) -> list[GroupRecord]:
        """The caller's project's groups (every project's for an admin who asks)."""
        return self.groups.list_groups(ctx, None if all_projects else _project(ctx))

    def get_group(self, ctx: RequestContext, group_id: str) -> GroupRecord:
        return self.groups.get(ctx, group_id)

    def create_group(self, ctx: RequestContext, name: str, description: str) -> GroupRecord:
        return self.groups.create(ctx, name, description, self.quota)

    def update_group(self, ctx: RequestContext, group_id: str, name: str,
                     description: str) -> GroupRecord:
        self.groups.update(ctx, group_id, name, description)
        return self.get_group(ctx, group_id)

    def delete_group(self, ctx: RequestContext, group_id: str) -> None:
        """Delete a group no live server names; the project's hosts drop its rules."""
        group = self.groups.get(ctx, group_id)
        in_use = self.group_in_use(group.project_id, group.name)
        project_id = self.groups.delete(ctx, group_id, in_use)
        self._refresh_project(project_id)

    # -- labs.network.group_use.GroupUse: the network API's groups and rules -----------
    def group_in_use(self, project_id: str, name: str) -> bool:
        """Whether a live server names the group or a port is in it."""
        with self.db.reading() as tx:
            if any(name in names for names in self._named(tx, project_id)):
                return True
            group = self.network.security_groups.find_named(tx, project_id, name)
            return group is not None and ports_in_group(tx, project_id, group.id)

    def rules_changed(self, project_id: str) -> None:
        self._refresh_project(project_id)

    def routers_changed(self, project_id: str) -> None:
        self._refresh_project(project_id)

    def add_rule(self, ctx: RequestContext, req: RuleRequest) -> GroupRecord:
        """Add a rule (three for a group source without a protocol); the project's hosts
        apply it."""
        view = self.groups.add_rule(ctx, req, self.quota)
        self._refresh_project(view.project_id)
        return view

    def delete_rule(self, ctx: RequestContext, rule_id: str) -> None:
        self._refresh_project(self.groups.delete_rule(ctx, rule_id))

    def server_groups(self, ctx: RequestContext, server_id: str) -> list[GroupRecord]:
        """The groups a server is a member of (``default`` when it names none)."""
        row = self.servers.get(ctx, server_id)
        names = list(row.security_groups or [DEFAULT])
        return [view for view in self.groups.list_groups(ctx, row.project_id)
                if view.name in names]

    def add_server_group(self, ctx: RequestContext, server_id: str, name: str) -> None:
        """Make the server a member of its project's group ``name``."""
        with self.db.transaction() as tx:
            row, name, names = self._server_and_groups(tx, ctx, server_id, name)
            if name in names:
                raise BadRequest(f"Security group {name} is already associated with the "
                                 f"instance {row.id}")
            row.security_groups, row.updated_at = [*names, name], utcnow()
            server_group_changed(tx, row.id, self._group_id(tx, row.project_id, name), True)
            project_id = row.project_id
        self._refresh_project(project_id)

    def remove_server_group(self, ctx: RequestContext, server_id: str, name: str) -> None:
        """Take the server out of group ``name`` (not out of its last one: a server with
        no group is in ``default``)."""
        with self.db.transaction() as tx:
            row, name, names = self._server_and_groups(tx, ctx, server_id, name)
            if name not in names:
                raise BadRequest(f"Security group {name} is not associated with the "
                                 f"instance {row.id}")
            if names == [name]:
                raise BadRequest(f"Security group {name} is the only group of instance "
                                 f"{row.id}; add another group first.")
            row.security_groups = [n for n in names if n != name]
            row.updated_at = utcnow()
            server_group_changed(tx, row.id, self._group_id(tx, row.project_id, name), False)
            project_id = row.project_id
        self._refresh_project(project_id)

    def _server_and_groups(self, tx: Session, ctx: RequestContext, server_id: str,
                           name: str) -> tuple[models.Instance, str, list[str]]:
        """The server (changeable by the caller), the name of its project's group
        ``name`` (a name or an id) and the groups the server names."""
        row = self._server(tx, ctx, server_id)
        group = self.network.security_groups.find_named(tx, row.project_id, name)
        if group is None:
            raise NotFound(f"Security group {name} not found for project {row.project_id}.")
        return row, group.name, list(row.security_groups or [DEFAULT])

    def _group_id(self, tx: Session, project_id: str, name: str) -> str:
        group = self.network.security_groups.find_named(tx, project_id, name)
        assert group is not None  # found by _server_and_groups in this transaction
        return group.id

    # -- floating IPs ------------------------------------------------------------------
    def list_floating(self, ctx: RequestContext) -> list[FloatingIpRecord]:
        return self.floating.list_mine(ctx)

    def get_floating(self, ctx: RequestContext, floating_id: str) -> FloatingIpRecord:
        return self.floating.get(ctx, floating_id)

    def allocate_floating(self, ctx: RequestContext, pool: str | None
                          ) -> FloatingIpRecord:
        _project(ctx)
        return self.floating.allocate(ctx, pool, self.quota)

    def release_floating(self, ctx: RequestContext, floating_id: str, *,
                         expected_revision: int | None = None) -> None:
        """Give the address back to the pool, taking it from its server first (at
        revision `expected_revision` only, if given)."""
        before = self.floating.release(ctx, floating_id, expected_revision)
        if before.instance_id is not None:
            with self.db.transaction() as tx:
                row = tx.get(Inst, before.instance_id)
                host = self._readdress(tx, row)
            self._refresh(host, before.instance_id)

    def associate_floating(self, ctx: RequestContext, server_id: str, address: str,
                           fixed_address: str | None, *, expected_revision: int | None = None,
                           move: bool = False) -> None:
        """Forward ``address`` (allocated to the caller's project) to the server's fixed
        IP (see `labs.network.floating_ips.Associations` for `expected_revision` and
        `move`: the server it leaves is readdressed and refreshed too)."""
        with self.db.transaction() as tx:
            row = self._server(tx, ctx, server_id)
            nics = self.network.fixed_ips.nics_of_instances(tx, [row.id]).get(row.id)
            if not nics:
                raise BadRequest(f"Instance {row.id} has no network (no fixed IP) to "
                                 "associate a floating IP with.")
            if fixed_address is not None and fixed_address not in {
                    fixed.address for fixed in nics}:
                raise BadRequest("Specified fixed address not assigned to instance")
            left = self.floating.associate(tx, ctx, address, row.id,
                                           fixed_address or nics[0].address,
                                           expected_revision, move)
            host = self._readdress(tx, row)
            left_host = self._readdress(tx, tx.get(Inst, left)) if left else None
        self._refresh(host, server_id)
        if left is not None:
            self._refresh(left_host, left)

    def disassociate_floating(self, ctx: RequestContext, server_id: str, address: str, *,
                              expected_revision: int | None = None) -> None:
        with self.db.transaction() as tx:
            row = self._server(tx, ctx, server_id)
            self.floating.disassociate(tx, ctx, address, row.id, expected_revision)
            host = self._readdress(tx, row)
        self._refresh(host, server_id)

    # -- labs.network.port_use.PortUse: a server's port deleted through the network API -
    def port_deleted(self, instance_id: str) -> None:
        """The server's interface there is gone (Nova drops it): its ``addresses`` no
        longer name it, and its host applies its network again."""
        with self.db.transaction() as tx:
            host = self._readdress(tx, tx.get(Inst, instance_id, with_for_update=True))
        self._refresh(host, instance_id)

    # -- helpers -----------------------------------------------------------------------
    def _server(self, tx: Session, ctx: RequestContext, server_id: str) -> models.Instance:
        return self.servers.find(tx, ctx, server_id)

    @staticmethod
    def _named(tx: Session, project_id: str) -> list[list[str]]:
        """The groups each live server of the project names."""
        return [list(names or [DEFAULT]) for names in tx.scalars(sa.select(
            Inst.security_groups).where(Inst.project_id == project_id,
                                        Inst.deleted.is_(False)))]

    def _readdress(self, tx: Session, row: models.Instance | None) -> str | None:
        """Rewrite the server's ``addresses`` from its fixed and floating IPs (none left:
        none); its host."""
        if row is None or row.deleted:
            return None
        readdress(tx, self.network, row, keep=False)
        return row.host

    def _refresh(self, host: str | None, instance_id: str) -> None:
        if host is not None:
            self._cast(host, [instance_id])

    def _refresh_project(self, project_id: str) -> None:
        """Rules or memberships of the project changed: every host running one of its
        servers applies them again."""
        with self.db.reading() as tx:
            hosts = hosts_of_project(tx, project_id)
        for host, instance_ids in hosts.items():
            self._cast(host, instance_ids)

    def _cast(self, host: str, instance_ids: list[str]) -> None:
        try:
            self.agents.refresh_network(host, instance_ids)
        except Exception as exc:
            log.warning("could not ask %s to refresh the network of %s: %s", host,
                        ", ".join(instance_ids), exc)


def _project(ctx: RequestContext) -> str:
    if ctx.project_id is None:
        raise BadRequest("A project-scoped token is needed for security groups and "
                         "floating IPs.")
    return ctx.project_id
