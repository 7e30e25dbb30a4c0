"""Shelving a server (its disk saved as an image, its host freed once offloaded, a new
host found when it comes back), backups with rotation, and crash dumps: the server
actions of Nova's os-shelve, os-create-backup and trigger_crash_dump.

Shelve snapshots the server into "<name>-shelved" (the image's id kept in the server's
system metadata as ``shelved_image_id``); with ``shelved_offload_time`` = 0 the agent
then offloads it: the VM goes, its allocation is released, its ports and addresses
stay. An offloaded server counts as an instance but holds no cores nor RAM; unshelve
takes them back under the project's quota lock, then the conductor schedules it again
and the new host boots it from that image, which is deleted once it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from labs.common.context import RequestContext
from labs.common.errors import BadRequest, Conflict
from labs.compute import models, states
from labs.compute.actions import start_action
from labs.compute.api.images import check_snapshot_properties
from labs.compute.api.server_actions import ServerActions
from labs.compute.config import ComputeOptions
from labs.compute.payloads import utcnow

Inst = models.Instance
UNSET: Any = object()


@dataclass(frozen=True)
class Unshelve:
    """Where an offloaded server may go: ``zone`` (UNSET: where it was asked for
    before; None: anywhere, 2.91), ``host`` (admins, 2.91)."""

    zone: str | None = UNSET
    host: str | None = None


class ShelveActions:
    def __init__(self, actions: ServerActions, options: ComputeOptions) -> None:
        self.actions = actions
        self.servers = actions.servers
        self.db = actions.db
        self.agents = actions.agents
        self.options = options

    def _image_url(self) -> str:
        url = self.servers.images.upload_url()
        if url is None:
            raise BadRequest("No image service is reachable from the hosts to keep the "
                             "snapshot in.")
        return url

    def _snapshot_image(self, ctx: RequestContext, row: models.Instance, name: str,
                        properties: dict[str, str], task_state: str) -> str:
        """The new image of the server that just took ``task_state``; on failure the
        server is given back."""
        images = self.servers.images
        try:
            source = images.find(ctx, row.image_ref)
            return images.create_snapshot(
                ctx, name, source.disk_format if source else "raw",
                {**properties, "instance_uuid": row.id, "base_image_ref": row.image_ref})
        except Exception:
            with self.db.transaction() as tx:
                tx.execute(sa.update(Inst).where(Inst.id == row.id,
                                                 Inst.task_state == task_state)
                           .values(task_state=None, updated_at=utcnow()))
            raise

    # -- shelve ----------------------------------------------------------------------
    def shelve(self, ctx: RequestContext, server_id: str) -> None:
        url = self._image_url()
        row = self.actions._move(ctx, server_id, "shelve", "shelve", states.ALLOWED["shelve"],
                                states.SHELVING)
        image_id = self._snapshot_image(ctx, row, f"{row.name}-shelved",
                                        {"image_type": "snapshot"}, states.SHELVING)
        with self.db.transaction() as tx:
            found = tx.get(Inst, row.id, with_for_update=True)
            if found is not None:
                found.system_metadata = {**(found.system_metadata or {}),
                                         "shelved_image_id": image_id,
                                         "shelved_at": utcnow().isoformat(),
                                         "shelved_host": row.host or ""}
        assert row.host is not None
        self.agents.shelve_instance(row.host, row.id, image_id, url, ctx.token,
                                    self.options.shelved_offload_time == 0)

    def shelve_offload(self, ctx: RequestContext, server_id: str) -> None:
        row = self.actions._move(ctx, server_id, "shelveOffload", "shelveOffload",
                                states.ALLOWED["shelveOffload"], states.SHELVING_OFFLOADING)
        assert row.host is not None
        self.agents.shelve_offload_instance(row.host, row.id)

    def unshelve(self, ctx: RequestContext, server_id: str, where: Unshelve) -> None:
        url = self._image_url()
        with self.db.reading() as tx:
            row = self.servers.find(tx, ctx, server_id)
        if row.vm_state == states.SHELVED and row.task_state is None:
            if where.zone is not UNSET or where.host is not None:
                raise Conflict("The availability_zone and host parameters can only be "
                               f"given to unshelve a SHELVED_OFFLOADED server; {row.id} is "
                               "SHELVED.")
            row = self.actions._move(ctx, server_id, "unshelve", "unshelve",
                                    frozenset({states.SHELVED}), states.UNSHELVING)
            assert row.host is not None
            self.agents.unshelve_instance(row.host, row.id, url, ctx.token,
                                          (row.system_metadata or {}).get("shelved_image_id"))
            return
        zone = self._checked_zone(where)
        self.servers.quotas.ensure_lock_row(self.db, row.project_id)
        with self.db.transaction() as tx:
            self.servers.quotas.lock(tx, row.project_id)  # unshelves take turns
            row = self.servers.find_changeable(tx, ctx, server_id, lock=True)
            if row.vm_state != states.SHELVED_OFFLOADED or row.task_state is not None:
                state = (f"task_state {row.task_state}" if row.task_state
                         else f"vm_state {row.vm_state}")
                raise Conflict(f"Cannot 'unshelve' instance {row.id} while it is in {state}")
            self.servers.quotas.check_growth(tx, row.project_id, row.vcpus,
                                                  row.memory_mb)
            if zone is not UNSET:
                row.requested_zone = zone
            meta = {k: v for k, v in (row.system_metadata or {}).items()
                    if k != "unshelve_host"}
            if where.host is not None:
                meta["unshelve_host"] = where.host
            row.system_metadata, row.failed_hosts = meta, []
            row.task_state, row.updated_at = states.UNSHELVING, utcnow()
            start_action(tx, ctx, row.id, "unshelve", row.project_id)
        self.servers.conductor.unshelve_instance(row.id, url, ctx.token)

    def _checked_zone(self, where: Unshelve) -> Any:
        zone = where.zone
        if zone is not UNSET and zone is not None and \
                zone not in self.servers.hosts.zone_names():
            raise BadRequest(f"The requested availability zone is not available: {zone}")
        if where.host is not None:
            found = [s for z in self.servers.hosts.zones() for h, s in z.hosts.items()
                     if h == where.host and (zone in (UNSET, None) or z.name == zone)]
            if not found:
                raise BadRequest(f"Compute host {where.host} could not be found"
                                 + (f" in availability zone {zone}." if zone not in (
                                     UNSET, None) else "."))
        return zone

    # -- backups ---------------------------------------------------------------------
    def create_backup(self, ctx: RequestContext, server_id: str, name: str,
                      backup_type: str, rotation: int, metadata: dict[str, str]) -> str:
        """A backup image (as a snapshot); once it is uploaded, the server's oldest
        backups of ``backup_type`` beyond ``rotation`` are deleted."""
        url = self._image_url()
        check_snapshot_properties(metadata)
        with self.db.reading() as tx:
            row = self.servers.find(tx, ctx, server_id)
            self.servers.quotas.check_metadata_items(tx, row.project_id, len(metadata),
                                                     "Image metadata limit exceeded")
        row = self.actions._move(ctx, server_id, "createBackup", "createBackup",
                                states.ALLOWED["createBackup"], states.IMAGE_BACKUP)
        image_id = self._snapshot_image(
            ctx, row, name, {**metadata, "image_type": "backup", "backup_type": backup_type},
            states.IMAGE_BACKUP)
        assert row.host is not None
        self.agents.backup_instance(row.host, row.id, image_id, url, ctx.token,
                                    backup_type, rotation)
        return image_id

    # -- crash dumps -----------------------------------------------------------------
    def trigger_crash_dump(self, ctx: RequestContext, server_id: str) -> None:
        """Inject an NMI into the running guest (its kernel may dump and reboot)."""
        with self.db.transaction() as tx:
            row = self.servers.find_changeable(tx, ctx, server_id, lock=True)
            if (row.vm_state not in states.ALLOWED["trigger_crash_dump"]
                    or row.task_state is not None or row.host is None):
                state = (f"task_state {row.task_state}" if row.task_state
                         else f"vm_state {row.vm_state}")
                raise Conflict(f"Cannot 'trigger_crash_dump' instance {row.id} while it is "
                               f"in {state}")
            if row.power_state != states.RUNNING:
                raise Conflict(f"Instance {row.id} is not running.")
            start_action(tx, ctx, row.id, "trigger_crash_dump", row.project_id)
        self.agents.trigger_crash_dump(row.host, row.id)
