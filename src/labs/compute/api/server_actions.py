"""What can be done to an existing server: reboot, stop, start, pause, lock, console output,
metadata and tags, and the record of instance actions."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from labs.common.bus import BusError
from labs.common.context import RequestContext
from labs.common.db import affected
from labs.common.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable
from labs.compute import actions, models, states
from labs.compute.actions import start_action
from labs.compute.api.access_ips import access_ips, set_access_ips
from labs.compute.api.images import check_snapshot_properties
from labs.compute.api.servers import ServerService
from labs.compute.instance_network import InstanceNetworking
from labs.compute.payloads import BuildSpec, utcnow
from labs.compute.rpcapi import AGENT_BINARY

Inst = models.Instance
MAX_TAGS = 50


class ServerActions:
    def __init__(self, servers: ServerService) -> None:
        self.servers = servers
        self.db = servers.db
        self.agents = servers.agents

    def _move(self, ctx: RequestContext, server_id: str, action: str, nova_action: str,
              allowed: frozenset[str], task_state: str,
              from_tasks: frozenset[str | None] = frozenset({None})) -> models.Instance:
        """Start ``action``: one conditional update from an allowed state, else 409."""
        with self.db.transaction() as tx:
            row = self.servers.find_changeable(tx, ctx, server_id)
            tasks = [t for t in from_tasks if t is not None]
            task_ok = sa.or_(Inst.task_state.is_(None), Inst.task_state.in_(tasks)) \
                if None in from_tasks else Inst.task_state.in_(tasks)
            moved = tx.execute(sa.update(Inst).where(
                Inst.id == row.id, Inst.deleted.is_(False), Inst.vm_state.in_(allowed),
                task_ok, Inst.host.is_not(None)).values(task_state=task_state,
                                                        updated_at=utcnow()))
            if not affected(moved):
                if row.task_state not in from_tasks:
                    raise Conflict(f"Cannot '{nova_action}' instance {row.id} while it is in "
                                   f"task_state {row.task_state}")
                raise Conflict(f"Cannot '{nova_action}' instance {row.id} while it is in "
                               f"vm_state {row.vm_state}")
            start_action(tx, ctx, row.id, action, row.project_id)
            return row

    def reboot(self, ctx: RequestContext, server_id: str, hard: bool) -> None:
        if hard:
            row = self._move(ctx, server_id, "reboot", "reboot", states.ALLOWED["reboot_hard"],
                             states.REBOOTING_HARD, frozenset({None, *states.HARD_REBOOT_OVER}))
        else:
            row = self._move(ctx, server_id, "reboot", "reboot", states.ALLOWED["reboot"],
                             states.REBOOTING)
        assert row.host is not None
        self.agents.reboot_instance(row.host, row.id, hard)

    def stop(self, ctx: RequestContext, server_id: str) -> None:
        row = self._move(ctx, server_id, "stop", "stop", states.ALLOWED["stop"],
                         states.POWERING_OFF)
        assert row.host is not None
        self.agents.stop_instance(row.host, row.id)

    def start(self, ctx: RequestContext, server_id: str) -> None:
        row = self._move(ctx, server_id, "start", "start", states.ALLOWED["start"],
                         states.POWERING_ON)
        assert row.host is not None
        self.agents.start_instance(row.host, row.id)

    def pause(self, ctx: RequestContext, server_id: str) -> None:
        row = self._move(ctx, server_id, "pause", "pause", states.ALLOWED["pause"],
                         states.PAUSING)
        assert row.host is not None
        self.agents.pause_instance(row.host, row.id)

    def unpause(self, ctx: RequestContext, server_id: str) -> None:
        row = self._move(ctx, server_id, "unpause", "unpause", states.ALLOWED["unpause"],
                         states.UNPAUSING)
        assert row.host is not None
        self.agents.unpause_instance(row.host, row.id)

    def rebuild(self, ctx: RequestContext, server_id: str, image_ref: str,
                changes: dict[str, Any]) -> models.Instance:
        """Boot the server again from ``image_ref`` (its disk is lost), on the same host."""
        access_ips(changes)  # refused before the server moves
        image = self.servers.images.find(ctx, image_ref)
        if image is None:
            raise BadRequest("Can not find requested image")
        if image.status != "active":
            raise BadRequest(f"Image {image.id} is not active.")
        if "metadata" in changes:  # refused before the server moves
            with self.db.reading() as tx:
                row = self.servers.find(tx, ctx, server_id)
                self.servers.quotas.check_metadata_items(tx, row.project_id,
                                                         len(changes["metadata"]))
        row = self._move(ctx, server_id, "rebuild", "rebuild", states.ALLOWED["rebuild"],
                         states.REBUILDING)
        with self.db.transaction() as tx:
            row = self.servers.find(tx, ctx, server_id)
            row.image_ref = image.id
            if "name" in changes:
                row.name = changes["name"]
            if "metadata" in changes:
                row.metadata_ = dict(changes["metadata"])
            if "description" in changes:
                row.description = changes["description"]
            set_access_ips(row, changes)
            row.updated_at = utcnow()
            network = InstanceNetworking(self.db, self.servers.network).specs(tx, [row])
            # the new disk boots on the same port
            spec = BuildSpec.of_instance(row, network.get(row.id))
        assert row.host is not None
        self.agents.rebuild_instance(row.host, spec)
        return row

    def create_image(self, ctx: RequestContext, server_id: str, name: str,
                     metadata: dict[str, str]) -> str:
        """Snapshot the server's disk into a new private image of its project: the image
        exists (queued) when this returns; the server's agent uploads the data."""
        images = self.servers.images
        url = images.upload_url()
        if url is None:
            raise BadRequest("No image service is reachable from the hosts to keep the "
                             "snapshot in.")
        check_snapshot_properties(metadata)
        with self.db.reading() as tx:
            row = self.servers.find(tx, ctx, server_id)
            self.servers.quotas.check_metadata_items(tx, row.project_id, len(metadata),
                                                     "Image metadata limit exceeded")
        row = self._move(ctx, server_id, "createImage", "createImage",
                         states.ALLOWED["createImage"], states.IMAGE_SNAPSHOT)
        try:
            source = images.find(ctx, row.image_ref)
            image_id = images.create_snapshot(
                ctx, name, source.disk_format if source else "raw",
                {**metadata, "instance_uuid": row.id, "image_type": "snapshot",
                 "base_image_ref": row.image_ref})
        except Exception:
            with self.db.transaction() as tx:  # give the server back
                tx.execute(sa.update(Inst).where(Inst.id == row.id,
                                                 Inst.task_state == states.IMAGE_SNAPSHOT)
                           .values(task_state=None, updated_at=utcnow()))
            raise
        assert row.host is not None
        self.agents.snapshot_instance(row.host, row.id, image_id, url, ctx.token)
        return image_id

    def live_migrate(self, ctx: RequestContext, server_id: str, host: str | None,
                     force: bool = False) -> str:
        """Move the running server to another host (``host``, or where the scheduler
        says; ``force``: past the filters); returns the migration's id. The conductor
        drives it."""
        with self.db.reading() as tx:
            row = self.servers.find(tx, ctx, server_id)
            if host is not None and tx.scalar(sa.select(models.Service.id).where(
                    models.Service.host == host, models.Service.binary == AGENT_BINARY)) is None:
                raise BadRequest(f"Compute host {host} could not be found.")
            if host is not None and host == row.host:
                raise BadRequest(f"Unable to migrate instance ({row.id}) to current host "
                                 f"({host}).")
        row = self._move(ctx, server_id, "live-migration", "os-migrateLive",
                         states.ALLOWED["os-migrateLive"], states.MIGRATING)
        migration_id, now = str(uuid.uuid4()), utcnow()
        with self.db.transaction() as tx:
            tx.add(models.Migration(
                uuid=migration_id, instance_id=row.id, project_id=row.project_id,
                user_id=ctx.user_id, migration_type="live-migration", status="accepted",
                source_compute=row.host, source_node=row.node, dest_compute=host,
                dest_node=host, created_at=now, updated_at=now))
        self.servers.conductor.live_migrate_instance(row.id, migration_id, host,
                                                     force and host is not None)
        return migration_id

    def lock(self, ctx: RequestContext, server_id: str, reason: str | None) -> None:
        """As Nova: a lock already there stays as it is for its owner (an admin's lock
        stays the admin's); an admin's lock replaces an owner's."""
        with self.db.transaction() as tx:
            row = self.servers.find(tx, ctx, server_id)
            query = sa.update(Inst).where(Inst.id == row.id, Inst.deleted.is_(False))
            if not ctx.is_admin:
                query = query.where(Inst.locked.is_(False))  # never over a racing lock
            moved = tx.execute(query.values(locked=True, locked_reason=reason,
                                            locked_by="admin" if ctx.is_admin else "owner"))
            if affected(moved):
                start_action(tx, ctx, row.id, "lock", row.project_id)

    def unlock(self, ctx: RequestContext, server_id: str) -> None:
        with self.db.transaction() as tx:
            row = self.servers.find(tx, ctx, server_id)
            query = sa.update(Inst).where(Inst.id == row.id, Inst.deleted.is_(False))
            if not ctx.is_admin:
                query = query.where(sa.or_(Inst.locked_by.is_(None),
                                           Inst.locked_by != "admin"))
            moved = tx.execute(query.values(locked=False, locked_reason=None, locked_by=None))
            if not affected(moved):
                raise Forbidden(f"Instance {row.id} was locked by an admin; only an admin "
                                "may unlock it.")
            start_action(tx, ctx, row.id, "unlock", row.project_id)

    def console_output(self, ctx: RequestContext, server_id: str, length: int | None) -> str:
        row = self.servers.get(ctx, server_id)
        if row.host is None or row.vm_state == states.BUILDING:
            raise Conflict(f"Instance {row.id} is not ready")
        try:
            return self.agents.console_output(row.host, row.id, length)
        except BusError as exc:
            raise ServiceUnavailable(f"The host of instance {row.id} did not answer: {exc}. "
                                     "Try again later.") from None

    # -- metadata and tags -----------------------------------------------------------
    def metadata(self, ctx: RequestContext, server_id: str) -> dict[str, str]:
        return dict(self.servers.get(ctx, server_id).metadata_ or {})

    def set_metadata(self, ctx: RequestContext, server_id: str, items: dict[str, str],
                     replace: bool) -> dict[str, str]:
        with self.db.transaction() as tx:
            # locked: two requests merging into the same metadata must take turns, or
            # both pass the quota check and one's items are lost
            row = self.servers.find_changeable(tx, ctx, server_id, lock=True)
            merged = dict(items) if replace else {**(row.metadata_ or {}), **items}
            self.servers.quotas.check_metadata_items(tx, row.project_id, len(merged))
            row.metadata_, row.updated_at = merged, utcnow()
            return merged

    def delete_metadata(self, ctx: RequestContext, server_id: str, key: str) -> None:
        with self.db.transaction() as tx:
            row = self.servers.find_changeable(tx, ctx, server_id, lock=True)
            items = dict(row.metadata_ or {})
            if key not in items:
                raise NotFound(f"Metadata item was not found: {key}")
            del items[key]
            row.metadata_, row.updated_at = items, utcnow()

    def tags(self, ctx: RequestContext, server_id: str) -> list[str]:
        return list(self.servers.get(ctx, server_id).tags or [])

    def set_tags(self, ctx: RequestContext, server_id: str, tags: list[str],
                 add: bool = False) -> list[str]:
        with self.db.transaction() as tx:
            row = self.servers.find(tx, ctx, server_id, lock=True)
            merged = list(dict.fromkeys([*(row.tags or []), *tags] if add else tags))
            if len(merged) > MAX_TAGS:
                raise BadRequest(f"The number of tags exceeded the per-server limit "
                                 f"{MAX_TAGS}")
            row.tags, row.updated_at = merged, utcnow()
            return merged

    def delete_tag(self, ctx: RequestContext, server_id: str, tag: str | None) -> None:
        with self.db.transaction() as tx:
            row = self.servers.find(tx, ctx, server_id, lock=True)
            if tag is None:
                row.tags = []
            elif tag not in (row.tags or []):
                raise NotFound(f"Tag '{tag}' could not be found for instance {row.id}.")
            else:
                row.tags = [t for t in row.tags if t != tag]
            row.updated_at = utcnow()

    # -- instance actions ----------------------------------------------------------
    def list_actions(self, ctx: RequestContext, server_id: str) -> list[Any]:
        with self.db.reading() as tx:
            self.servers.find(tx, ctx, server_id, deleted_ok=True)
            return actions.list_actions(tx, server_id)

    def get_action(self, ctx: RequestContext, server_id: str, request_id: str) -> tuple[
            Any, list[Any]]:
        with self.db.reading() as tx:
            self.servers.find(tx, ctx, server_id, deleted_ok=True)
            return actions.get_action(tx, server_id, request_id)
