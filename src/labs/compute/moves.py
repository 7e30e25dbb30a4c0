"""What the API and the conductor both do to a server that moves (a resize or a cold
migration; see conductor.moves)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.compute import models, states
from labs.compute.payloads import BuildSpec, utcnow

log = logging.getLogger("labs.compute.moves")
Inst, Alloc = models.Instance, models.Allocation


def action_of(move: models.Migration) -> str:
    """The instance action a migration belongs to."""
    return "resize" if move.migration_type == "resize" else "migrate"


def sizes(flavor: dict[str, Any]) -> dict[str, int]:
    """What a server of `flavor` holds (the columns the quota counts)."""
    return {"vcpus": int(flavor["vcpus"]), "memory_mb": int(flavor["ram"]),
            "disk_gb": int(flavor["disk"]) + int(flavor.get("ephemeral") or 0)}


def with_flavor(spec: BuildSpec, flavor: dict[str, Any]) -> BuildSpec:
    held = sizes(flavor)
    return replace(spec, flavor=flavor, vcpus=held["vcpus"], memory_mb=held["memory_mb"],
                   disk_gb=held["disk_gb"])


def restore_claims(tx: Session, instance_id: str, migration_id: str) -> None:
    """Give back the destination's claim; the source's (the migration's) is the
    instance's again."""
    if tx.get(Alloc, migration_id) is None:
        return
    tx.execute(sa.delete(Alloc).where(Alloc.instance_id == instance_id))
    tx.execute(sa.update(Alloc).where(Alloc.instance_id == migration_id)
               .values(instance_id=instance_id))


def fault(message: str) -> dict[str, Any]:
    return {"code": 500, "message": message[:255], "details": message,
            "created": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}


def settle(row: models.Instance, flavor: dict[str, Any]) -> None:
    """The move is over: the server holds `flavor` alone."""
    for key, value in sizes(flavor).items():
        setattr(row, key, value)
    row.flavor, row.old_flavor, row.new_flavor = flavor, None, None
    row.system_metadata = {k: v for k, v in (row.system_metadata or {}).items()
                           if k != "old_vm_state"}
    row.task_state, row.updated_at = None, utcnow()

def give_up(tx: Session, instance_id: str, move: models.Migration | None,
             why: str) -> None:
    """The move never left its host: the server is as it was, the migration in error."""
    row = tx.get(Inst, instance_id, with_for_update=True)
    if move is not None:
        restore_claims(tx, instance_id, move.uuid)
        if move.status in ("pre-migrating", "migrating"):
            move.status, move.updated_at = "error", utcnow()
    if row is None or row.task_state not in states.RESIZING:
        return
    settle(row, row.flavor)
    log.info("move of %s given up: %s", instance_id, why)
