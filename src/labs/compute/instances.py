"""What the API and the conductor both do to an instance's record.

A server is deleted by the conductor when its agent reports the VM gone, and by the API
itself when no agent is up to do it (as Nova's API deletes a server whose host is down):
both end the record the same way here.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import affected
from labs.compute import models, states
from labs.compute.payloads import utcnow
from labs.network.instance_ports import release_addresses

Inst, Alloc = models.Instance, models.Allocation
#: What shelving keeps in a server's system metadata, and unshelving removes.
SHELVED_KEYS = ("shelved_at", "shelved_image_id", "shelved_host", "unshelve_host")


def mark_deleted(tx: Session, instance_id: str) -> bool:
    """Record the instance deleted, give back its claim on its host and its addresses
    (floating ones stay with the project). False when it was deleted already."""
    now = utcnow()
    gone = tx.execute(sa.update(Inst).where(Inst.id == instance_id, Inst.deleted.is_(False))
                      .values(deleted=True, deleted_at=now, terminated_at=now,
                              vm_state=states.DELETED, task_state=None, power_state=0,
                              updated_at=now))
    tx.execute(sa.delete(Alloc).where(Alloc.instance_id == instance_id))
    tx.execute(sa.delete(Alloc).where(Alloc.instance_id.in_(  # the source's, of a move
        sa.select(models.Migration.uuid).where(models.Migration.instance_id == instance_id))))
    release_addresses(tx, instance_id, now)
    return bool(affected(gone))
