"""Servers as the API handles them: create (with quotas), list, show, update, delete.

The API validates, checks policy and quota, records the request and hands the work to
the conductor (builds) or to the server's agent (power operations, deletes). Every
change of state here is a conditional update, so two racing requests never both win.
"""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.context import RequestContext
from labs.common.db import Database, affected
from labs.common.errors import BadRequest, Conflict, Forbidden, NotFound
from labs.common.names import dns_label
from labs.common.patterns import filter_pattern
from labs.compute import models, states
from labs.compute.actions import start_action
from labs.compute.api.access_ips import set_access_ips
from labs.compute.api.flavors import FlavorService, check_fits
from labs.compute.api.groups import ServerGroupService
from labs.compute.api.hosts import HostService
from labs.compute.api.images import ImageLookup
from labs.compute.api.keypairs import KeypairService
from labs.compute.api.quotas import QuotaService
from labs.compute.config import ComputeOptions
from labs.compute.instance_network import check_requested_networks
from labs.compute.instances import mark_deleted
from labs.compute.payloads import BuildSpec, notification_payload, utcnow
from labs.compute.rpcapi import AgentAPI, ConductorAPI, notify_instance
from labs.network.service import NetworkService

log = logging.getLogger("labs.compute.api.servers")
Inst = models.Instance
MAX_USER_DATA = 65535


@dataclass(frozen=True)
class ServerRequest:
    """What ``POST /servers`` asks for, already checked against the schema."""

    name: str
    image_ref: str
    flavor_ref: str
    key_name: str | None = None
    networks: Any = None
    user_data: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    availability_zone: str | None = None
    security_groups: list[str] = field(default_factory=list)
    min_count: int = 1
    max_count: int = 1
    group_id: str | None = None
    scheduler_hints: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    config_drive: bool = False
    access_ip_v4: str | None = None
    access_ip_v6: str | None = None


@dataclass(frozen=True)
class ServerFilter:
    name: str | None = None
    status: str | None = None
    image: str | None = None
    flavor: str | None = None
    changes_since: datetime | None = None
    host: str | None = None
    project_id: str | None = None
    all_tenants: bool = False
    deleted: bool | None = None
    tags: list[str] = field(default_factory=list)
    key_name: str | None = None
    availability_zone: str | None = None
    locked: bool | None = None
    access_ip_v4: str | None = None  # regular expressions, as name
    access_ip_v6: str | None = None


@dataclass(frozen=True)
class CheckedRequest:
    """What a ``ServerRequest`` names, found and checked before anything is recorded."""

    image_id: str
    flavor: models.Flavor
    key: models.Keypair | None
    user_data: str | None
    zone: str | None
    group: models.ServerGroup | None
    #: The names of the security groups asked for (by name or id).
    security_groups: list[str]


def status_clause(status: str) -> sa.ColumnElement[bool]:
    """The rows a list filtered by ``status`` shows, as Nova filters (see
    ``states.states_of_status``)."""
    if status == "DELETED":
        return Inst.deleted.is_(True)
    vm_states, tasks = states.states_of_status([status])
    if not vm_states:
        return sa.false()
    clause = Inst.vm_state.in_(sorted(vm_states))
    return clause if tasks is None else sa.and_(clause, Inst.task_state.in_(sorted(tasks)))


def hostname_for(name: str) -> str:
    """A DNS label from a server name, as Nova's ``sanitize_hostname``."""
    return dns_label(name) or "server"


class ServerService:
    def __init__(self, db: Database, options: ComputeOptions, quotas: QuotaService,
                 flavors: FlavorService, keypairs: KeypairService,
                 groups: ServerGroupService, images: ImageLookup, conductor: ConductorAPI,
                 agents: AgentAPI, hosts: HostService, network: NetworkService) -> None:
        self.db = db
        self.network = network
        self.options = options
        self.quotas = quotas
        self.flavors = flavors
        self.keypairs = keypairs
        self.groups = groups
        self.images = images
        self.conductor = conductor
        self.agents = agents
        self.hosts = hosts

    # -- create ----------------------------------------------------------------------
    def create(self, ctx: RequestContext, req: ServerRequest) -> tuple[list[models.Instance],
                                                                        str]:
        project_id = ctx.project_id
        if not project_id:
            raise Forbidden("Servers belong to a project: use a project-scoped token.")
        checked = self._check(ctx, project_id, req)
        reservation = f"r-{uuid.uuid4().hex[:8]}"
        now = utcnow()
        self.quotas.ensure_lock_row(self.db, project_id)
        with self.db.transaction() as tx:
            self.quotas.lock(tx, project_id)
            count = self._allowed_count(tx, project_id, req, checked)
            rows = []
            for index in range(count):
                name = req.name if count == 1 else f"{req.name}-{index + 1}"
                row = self._new_instance(ctx, req, checked, name, index, reservation, now)
                tx.add(row)
                start_action(tx, ctx, row.id, "create", project_id, now)
                rows.append(row)
        try:
            self.conductor.build_instances([r.id for r in rows])
        except Exception as exc:  # the conductor drives stuck builds again
            log.error("could not hand %d builds to the conductor: %s", len(rows), exc)
        return rows, reservation

    def _check(self, ctx: RequestContext, project_id: str,
               req: ServerRequest) -> CheckedRequest:
        """Everything the request names, found and checked (400 or 403 otherwise)."""
        image = self.images.find(ctx, req.image_ref)
        if image is None:
            raise BadRequest("Can not find requested image")
        if image.status != "active":
            raise BadRequest(f"Image {image.id} is not active.")
        try:
            flavor = self.flavors.get(ctx, req.flavor_ref)
        except NotFound:
            raise BadRequest(f"Flavor {req.flavor_ref} could not be found.") from None
        if flavor.disabled:
            raise BadRequest(f"Flavor {req.flavor_ref} is disabled.")
        check_fits(flavor, image.min_disk, image.min_ram, image.size, image.virtual_size)
        key = self.keypairs.find(ctx.user_id, req.key_name) if req.key_name else None
        user_data = self._check_user_data(req.user_data)
        check_requested_networks(self.network, project_id, req.networks, req.max_count)
        names = self._check_security_groups(project_id, req.security_groups)
        zone = self._check_zone(ctx, req.availability_zone)
        group = self.groups.get_for_server(ctx, req.group_id) if req.group_id else None
        return CheckedRequest(image.id, flavor, key, user_data, zone, group, names)

    def _allowed_count(self, tx: Session, project_id: str, req: ServerRequest,
                       checked: CheckedRequest) -> int:
        """How many of the servers asked for the project's quotas (and the server
        group's) allow: at most ``max_count``; 403 when fewer than ``min_count``."""
        limits = self.quotas.limits(tx, project_id)
        if 0 <= limits["metadata_items"] < len(req.metadata):
            raise Forbidden(f"Quota exceeded for metadata_items: Requested "
                            f"{len(req.metadata)}, but the limit is "
                            f"{limits['metadata_items']}")
        flavor = checked.flavor
        count = self.quotas.instances_allowed(tx, project_id, flavor.vcpus, flavor.ram,
                                              req.min_count, req.max_count)
        if checked.group is not None:
            members = len(self.groups.members(tx, checked.group.id))
            room = limits["server_group_members"]
            if room >= 0 and members + count > room:
                raise Forbidden("Quota exceeded, too many servers in group")
        return count

    @staticmethod
    def _new_instance(ctx: RequestContext, req: ServerRequest, checked: CheckedRequest,
                      name: str, index: int, reservation: str,
                      now: datetime) -> models.Instance:
        """The record of one server of the request, waiting for the scheduler."""
        flavor, key, zone, group = checked.flavor, checked.key, checked.zone, checked.group
        return Inst(
            id=str(uuid.uuid4()), project_id=ctx.project_id, user_id=ctx.user_id,
            # the project's label: its part of the server's FQDN
            project_name=(ctx.project_label or "")[:64],
            name=name, hostname=hostname_for(name), description=req.description,
            vm_state=states.BUILDING, task_state=states.SCHEDULING,
            power_state=states.NOSTATE, requested_zone=zone,
            availability_zone=zone or None,
            vcpus=flavor.vcpus, memory_mb=flavor.ram, disk_gb=flavor.disk + flavor.ephemeral,
            flavor={"id": flavor.id, "name": flavor.name, "vcpus": flavor.vcpus,
                    "ram": flavor.ram, "disk": flavor.disk,
                    "ephemeral": flavor.ephemeral, "swap": flavor.swap,
                    "extra_specs": dict(flavor.extra_specs or {})},
            image_ref=checked.image_id, key_name=key.name if key else None,
            key_data=key.public_key if key else None, user_data=checked.user_data,
            metadata_=dict(req.metadata), tags=list(req.tags),
            security_groups=list(dict.fromkeys(checked.security_groups or ["default"])),
            requested_networks=req.networks, addresses={},
            scheduler_hints=dict(req.scheduler_hints),
            server_group_id=group.id if group else None,
            config_drive=req.config_drive, reservation_id=reservation,
            access_ip_v4=req.access_ip_v4, access_ip_v6=req.access_ip_v6,
            launch_index=index, failed_hosts=[], created_at=now, updated_at=now)

    @staticmethod
    def _check_user_data(user_data: str | None) -> str | None:
        if user_data is None:
            return None
        try:
            raw = base64.b64decode(user_data, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("User data needs to be valid base 64.") from None
        if len(raw) > MAX_USER_DATA:
            raise BadRequest(f"User data is {len(raw)} bytes; at most {MAX_USER_DATA} "
                             "are allowed.")
        return user_data

    def _check_security_groups(self, project_id: str, asked: list[str]) -> list[str]:
        """The names of the project's groups `asked` names or ids (as Nova with Neutron
        takes them; ``default`` may not exist yet)."""
        if all(name == "default" for name in asked):
            return list(asked)
        with self.db.reading() as tx:
            found = [(name, self.network.security_groups.find_named(tx, project_id, name))
                     for name in asked]
        for name, row in found:
            if row is None and name != "default":
                raise BadRequest(f"Security group {name} not found.")
        return [row.name if row is not None else name for name, row in found]

    def _check_zone(self, ctx: RequestContext, wanted: str | None) -> str | None:
        if not wanted:
            return None
        zone, _, host = wanted.partition(":")
        if host and not ctx.is_admin:
            raise Forbidden("Only admins may ask for a host.")
        if zone and zone not in self.hosts.zone_names():
            raise BadRequest(f"The requested availability zone is not available: {zone}")
        return zone or None

    # -- finding a server: how every part of the API reaches an instance ---------------
    def get(self, ctx: RequestContext, server_id: str, *,
            deleted_ok: bool = False) -> models.Instance:
        """The server as ``ctx`` sees it, read in a transaction of its own (404 when it
        does not exist, belongs to another project, or is deleted unless
        ``deleted_ok``)."""
        with self.db.reading() as tx:
            return self.find(tx, ctx, server_id, deleted_ok=deleted_ok)

    def find(self, tx: Session, ctx: RequestContext, server_id: str, *,
             deleted_ok: bool = False, lock: bool = False) -> models.Instance:
        """The server as ``ctx`` sees it, within ``tx`` (404 otherwise); with ``lock``,
        its row stays locked until ``tx`` ends, for changes computed from what it
        holds."""
        query = sa.select(Inst).where(Inst.id == server_id)
        if not ctx.is_admin:
            query = query.where(Inst.project_id == (ctx.project_id or ""))
        if not deleted_ok:
            query = query.where(Inst.deleted.is_(False))
        if lock:
            query = query.with_for_update()
        row: models.Instance | None = tx.scalars(query).first()
        if row is None:
            raise NotFound(f"Instance {server_id} could not be found.")
        return row

    def find_changeable(self, tx: Session, ctx: RequestContext, server_id: str, *,
                        lock: bool = False) -> models.Instance:
        """As :meth:`find`, for a change the server's lock forbids: 409 when it is
        locked and ``ctx`` is not an admin."""
        row = self.find(tx, ctx, server_id, lock=lock)
        if row.locked and not ctx.is_admin:
            raise Conflict(f"Instance {row.id} is locked")
        return row

    # -- read ------------------------------------------------------------------------
    def list_servers(self, ctx: RequestContext, where: ServerFilter, limit: int | None,
                     marker: str | None) -> list[models.Instance]:
        pattern = None if where.name is None else filter_pattern(where.name, "name")
        query = sa.select(Inst).order_by(Inst.created_at.desc(), Inst.id.desc())
        if not (ctx.is_admin and where.all_tenants):
            query = query.where(Inst.project_id == (ctx.project_id or ""))
        elif where.project_id:
            query = query.where(Inst.project_id == where.project_id)
        if where.deleted and ctx.is_admin:
            query = query.where(Inst.deleted.is_(True))
        elif where.changes_since is None:
            query = query.where(Inst.deleted.is_(False))
        if where.changes_since is not None:
            query = query.where(Inst.updated_at >= where.changes_since)
        for column, value in ((Inst.image_ref, where.image), (Inst.host, where.host),
                              (Inst.key_name, where.key_name),
                              (Inst.availability_zone, where.availability_zone)):
            if value is not None:
                query = query.where(column == value)
        if where.locked is not None:
            query = query.where(Inst.locked.is_(where.locked))
        if where.status is not None:
            query = query.where(status_clause(where.status))
        cap = self.options.max_list_limit
        wanted = min(limit, cap) if limit is not None else cap
        if where.name is None and where.flavor is None and not where.tags and marker is None \
                and where.access_ip_v4 is None and where.access_ip_v6 is None:
            query = query.limit(wanted)  # nothing left to filter here: let SQL stop early
        with self.db.reading() as tx:
            rows = list(tx.scalars(query))
        by_address = [(filter_pattern(value, key), column) for key, value, column in (
            ("access_ip_v4", where.access_ip_v4, "access_ip_v4"),
            ("access_ip_v6", where.access_ip_v6, "access_ip_v6")) if value is not None]
        rows = [r for r in rows
                if (pattern is None or pattern.search(r.name))
                and all(p.search(getattr(r, column) or "") for p, column in by_address)
                and (where.flavor is None or r.flavor.get("id") == where.flavor)
                and all(tag in (r.tags or []) for tag in where.tags)]
        if marker is not None:
            ids = [r.id for r in rows]
            if marker not in ids:
                raise BadRequest(f"marker [{marker}] not found")
            rows = rows[ids.index(marker) + 1:]
        return rows[:wanted]

    # -- update and delete ---------------------------------------------------------
    def update(self, ctx: RequestContext, server_id: str, changes: dict[str, Any]) -> (
            models.Instance):
        with self.db.transaction() as tx:
            row = self.find(tx, ctx, server_id)
            if "name" in changes:
                row.name = changes["name"]
            if "description" in changes:
                row.description = changes["description"]
            set_access_ips(row, changes)
            row.updated_at = utcnow()
        return row

    def delete(self, ctx: RequestContext, server_id: str) -> None:
        """Works in any state. Without a live agent for it, the server is deleted here
        (its agent cleans up when it comes back)."""
        with self.db.transaction() as tx:
            row = self.find_changeable(tx, ctx, server_id)
            if row.task_state == states.DELETING:
                return
            start_action(tx, ctx, row.id, "delete", row.project_id)
            host = row.host
            shelved_image = (row.system_metadata or {}).get("shelved_image_id")
            if host is None or not self.hosts.is_up(host):
                spec = BuildSpec.of_instance(row)
                mark_deleted(tx, row.id)
                local = True
            else:
                moved = tx.execute(sa.update(Inst).where(Inst.id == row.id,
                                                         Inst.deleted.is_(False))
                                   .values(task_state=states.DELETING, updated_at=utcnow()))
                if not affected(moved):
                    return  # deleted by a racing request meanwhile
                local = False
        if shelved_image:  # as Nova: a shelved server's image goes with it
            self.images.discard_image(ctx, shelved_image)
        if local:
            # no agent will say it: tell the listeners (DNS, ...) from here, as Nova's
            # API does for a server whose host is down
            for event, state in (("delete.start", states.ACTIVE), ("delete.end", states.DELETED)):
                notify_instance(self.conductor.bus, event, notification_payload(
                    spec, host or "", state, states.DELETING), "compute.api")
        elif host is not None:
            self.agents.delete_instance(host, server_id)
