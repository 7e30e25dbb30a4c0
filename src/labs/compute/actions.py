"""Instance actions: who did what to a server and when, and how each step went."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.context import RequestContext
from labs.common.errors import NotFound
from labs.compute import models
from labs.compute.payloads import utcnow

IA, EV = models.InstanceAction, models.InstanceActionEvent


def start_action(tx: Session, ctx: RequestContext, instance_id: str, action: str,
                 project_id: str, now: datetime | None = None) -> None:
    now = now or utcnow()
    tx.add(IA(instance_id=instance_id, request_id=ctx.request_id or "req-unknown",
              action=action, project_id=project_id, user_id=ctx.user_id, start_time=now,
              updated_at=now))


def finish_event(tx: Session, instance_id: str, action: str, event: str, host: str | None,
                 error: str | None = None) -> None:
    """Add the outcome of one step to the newest ``action`` of the instance."""
    found = tx.scalars(sa.select(IA).where(IA.instance_id == instance_id, IA.action == action)
                       .order_by(IA.id.desc()).limit(1)).first()
    if found is None:
        return
    now = utcnow()
    found.updated_at = now
    if error:
        found.message = "Error"
    tx.add(EV(action_id=found.id, event=event, host=host,
              result="Error" if error else "Success", details=error, start_time=found.start_time,
              finish_time=now))


def list_actions(tx: Session, instance_id: str) -> list[models.InstanceAction]:
    return list(tx.scalars(sa.select(IA).where(IA.instance_id == instance_id)
                           .order_by(IA.start_time.desc(), IA.id.desc())))


def get_action(tx: Session, instance_id: str,
               request_id: str) -> tuple[models.InstanceAction, list[models.InstanceActionEvent]]:
    # a client may send its own request id again: the newest action with it (as Nova)
    found = tx.scalars(sa.select(IA).where(IA.instance_id == instance_id,
                                           IA.request_id == request_id)
                       .order_by(IA.id.desc()).limit(1)).first()
    if found is None:
        raise NotFound(f"Action for request_id {request_id} on instance {instance_id} "
                       "not found")
    events = list(tx.scalars(sa.select(EV).where(EV.action_id == found.id).order_by(EV.id)))
    return found, events
