"""Resize (with confirmResize and revertResize) and cold migrate, as Nova's API does them.

The API checks the request, the server's state and (for a larger flavor) the project's
quota under its quota lock, records the migration and the server's task, and calls the
conductor, which claims a host for the new flavor and starts the move (see
conductor.moves): no host is a 400, as in Nova. While a server moves it holds the larger
of its two flavors in the quota, so that two resizes of one project never both pass it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.bus import BusError
from labs.common.context import RequestContext
from labs.common.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from labs.compute import models, states
from labs.compute.actions import start_action
from labs.compute.api.servers import ServerService
from labs.compute.moves import give_up, sizes
from labs.compute.payloads import utcnow

log = logging.getLogger("labs.compute.api.server_moves")
Inst, Mig = models.Instance, models.Migration


class ServerMoves:
    def __init__(self, servers: ServerService) -> None:
        self.servers = servers
        self.db = servers.db

    def resize(self, ctx: RequestContext, server_id: str, flavor_ref: str) -> None:
        try:
            flavor = self.servers.flavors.get(ctx, flavor_ref)
        except NotFound:
            raise BadRequest("Unable to locate requested flavor.") from None
        if flavor.disabled:
            raise BadRequest("Unable to locate requested flavor.")
        new = {"id": flavor.id, "name": flavor.name, "vcpus": flavor.vcpus, "ram": flavor.ram,
               "disk": flavor.disk, "ephemeral": flavor.ephemeral, "swap": flavor.swap,
               "extra_specs": dict(flavor.extra_specs or {})}
        self._start(ctx, server_id, "resize", new, None)

    def migrate(self, ctx: RequestContext, server_id: str, host: str | None) -> None:
        if host is not None and not self._known(host):
            raise BadRequest(f"Compute host {host} could not be found.")
        self._start(ctx, server_id, "migrate", None, host)

    def confirm(self, ctx: RequestContext, server_id: str) -> None:
        with self.db.transaction() as tx:
            row, move = self._resized(tx, ctx, server_id, "confirmResize")
            move.status, move.updated_at = "confirming", utcnow()
            start_action(tx, ctx, row.id, "confirmResize", row.project_id)
            source, dest, migration_id = move.source_compute, move.dest_compute, move.uuid
        assert source is not None
        self.servers.agents.confirm_migration(source, row.id, migration_id,
                                              unplug=source != dest)

    def revert(self, ctx: RequestContext, server_id: str) -> None:
        with self.db.transaction() as tx:
            row, move = self._resized(tx, ctx, server_id, "revertResize")
            move.status, move.updated_at = "reverting", utcnow()
            row.task_state, row.updated_at = states.RESIZE_REVERTING, utcnow()
            start_action(tx, ctx, row.id, "revertResize", row.project_id)
            source, dest, migration_id = move.source_compute, move.dest_compute, move.uuid
        assert dest is not None
        self.servers.agents.drop_migration(dest, row.id, migration_id, unplug=source != dest)

    # -- helpers -------------------------------------------------------------------
    def _start(self, ctx: RequestContext, server_id: str, action: str,
               new: dict[str, Any] | None, host: str | None) -> None:
        project_id = self.servers.get(ctx, server_id).project_id
        quotas = self.servers.quotas
        quotas.ensure_lock_row(self.db, project_id)
        migration_id = str(uuid.uuid4())
        with self.db.transaction() as tx:
            quotas.lock(tx, project_id)  # before the row, as creates take them
            row = self.servers.find_changeable(tx, ctx, server_id, lock=True)
            _check_state(row, action)
            old = dict(row.flavor)
            flavor = dict(new) if new is not None else old
            if new is not None:
                _check_flavors(old, flavor)
            was, now = sizes(old), sizes(flavor)
            quotas.check_growth(tx, row.project_id, now["vcpus"] - was["vcpus"],
                                now["memory_mb"] - was["memory_mb"])
            for key in was:  # held until the move is confirmed or reverted
                setattr(row, key, max(was[key], now[key]))
            row.old_flavor, row.new_flavor = old, flavor
            row.system_metadata = {**(row.system_metadata or {}), "old_vm_state": row.vm_state}
            row.task_state, row.updated_at = states.RESIZE_PREP, utcnow()
            tx.add(Mig(uuid=migration_id, instance_id=row.id, project_id=row.project_id,
                       user_id=ctx.user_id,
                       migration_type="resize" if action == "resize" else "migration",
                       status="pre-migrating", source_compute=row.host,
                       source_node=row.node, dest_host=host, old_flavor_id=old["id"],
                       new_flavor_id=flavor["id"], created_at=utcnow(), updated_at=utcnow()))
            start_action(tx, ctx, row.id, action, row.project_id)
        try:
            why = self.servers.conductor.migrate_server(row.id, migration_id)
        except BusError as exc:
            with self.db.transaction() as tx:
                give_up(tx, row.id, tx.scalars(sa.select(Mig).where(
                    Mig.uuid == migration_id).with_for_update()).first(), str(exc))
            raise ServiceUnavailable(f"The {action} of instance {row.id} could not be "
                                     f"started: {exc}. Try again later.") from None
        if why is not None:
            raise BadRequest(why)

    def _resized(self, tx: Session, ctx: RequestContext, server_id: str,
                 action: str) -> tuple[models.Instance, models.Migration]:
        row = self.servers.find_changeable(tx, ctx, server_id, lock=True)
        if row.vm_state != states.RESIZED or row.task_state is not None:
            _check_state(row, action)
        move = tx.scalars(sa.select(Mig).where(Mig.instance_id == row.id,
                                               Mig.status == "finished")
                          .order_by(Mig.id.desc()).with_for_update()).first()
        if move is None:
            raise BadRequest("Instance has not been resized.")
        return row, move

    def _known(self, host: str) -> bool:
        with self.db.reading() as tx:
            return tx.scalar(sa.select(models.ComputeNode.id)
                             .where(models.ComputeNode.host == host)) is not None


def _check_state(row: models.Instance, action: str) -> None:
    """409 unless the server may start `action` now, with Nova's message."""
    if row.task_state is not None:
        raise Conflict(f"Cannot '{action}' instance {row.id} while it is in task_state "
                       f"{row.task_state}")
    if row.vm_state not in states.ALLOWED[action] or row.host is None:
        raise Conflict(f"Cannot '{action}' instance {row.id} while it is in vm_state "
                       f"{row.vm_state}")


def _check_flavors(old: dict[str, Any], new: dict[str, Any]) -> None:
    """400 for a resize to the same flavor or to a smaller disk, as Nova."""
    if new["id"] == old["id"]:
        raise BadRequest("When resizing, instances must change flavor!")
    old_disk, new_disk = int(old["disk"]), int(new["disk"])
    if new_disk == 0 and old_disk != 0:
        raise BadRequest("Resize to zero disk flavor is not allowed.")
    if new_disk < old_disk or int(new["ephemeral"]) < int(old.get("ephemeral") or 0):
        raise BadRequest(f"Resize error: Unable to resize disk down (flavor {new['id']} has "
                         f"a {new_disk} GB root disk, the server {old_disk} GB).")
