"""Server groups: a policy that places their servers together or apart.

A group belongs to a project. Its members are the servers created with the group
as a scheduler hint (``Instance.server_group_id``); deleted servers drop out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.context import RequestContext
from labs.common.db import Database
from labs.common.errors import BadRequest, Forbidden, NotFound
from labs.common.numbers import is_digits
from labs.compute import models
from labs.compute.api.quotas import QuotaService
from labs.compute.payloads import utcnow

SG, Inst = models.ServerGroup, models.Instance
POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


@dataclass(frozen=True)
class GroupView:
    """A group with the ids of its (non-deleted) servers."""

    row: models.ServerGroup
    members: list[str] = field(default_factory=list)


class ServerGroupService:
    def __init__(self, db: Database, quotas: QuotaService) -> None:
        self.db = db
        self.quotas = quotas

    def create(self, ctx: RequestContext, name: str, policy: str,
               rules: dict[str, Any] | None = None) -> GroupView:
        project_id = ctx.project_id
        if not project_id:
            raise Forbidden("Server groups belong to a project: use a project-scoped token.")
        row = SG(id=str(uuid.uuid4()), project_id=project_id, user_id=ctx.user_id, name=name,
                 policy=policy, rules=self._rules(policy, rules or {}), created_at=utcnow())
        self.quotas.ensure_lock_row(self.db, project_id)
        with self.db.transaction() as tx:
            self.quotas.lock(tx, project_id)
            limit = self.quotas.limits(tx, project_id)["server_groups"]
            if 0 <= limit <= self.quotas.usage(tx, project_id).server_groups:
                raise Forbidden("Quota exceeded, too many server groups.")
            tx.add(row)
        return GroupView(row)

    @staticmethod
    def _rules(policy: str, rules: dict[str, Any]) -> dict[str, int]:
        if policy not in POLICIES:
            raise BadRequest(f"Invalid server group policy {policy!r}; use one of "
                             f"{', '.join(POLICIES)}.")
        if rules and policy != "anti-affinity":
            raise BadRequest("Only anti-affinity policy supports rules.")
        out: dict[str, int] = {}
        for key, value in rules.items():
            if key != "max_server_per_host":
                raise BadRequest(f"Invalid rule {key!r}: the only rule is "
                                 "max_server_per_host.")
            # the CLI sends rule values as strings
            text = str(value)
            if isinstance(value, bool) or not is_digits(text) or int(text) < 1:
                raise BadRequest("Invalid input for field/attribute max_server_per_host. "
                                 f"Value: {value}. It must be a positive integer.")
            out[key] = int(text)
        return out

    def list_groups(self, ctx: RequestContext, all_projects: bool = False,
                    limit: int | None = None, offset: int = 0) -> list[GroupView]:
        """The caller's project's groups (every project's for an admin who asks)."""
        query = sa.select(SG).order_by(SG.created_at, SG.id).offset(offset)
        if not (all_projects and ctx.is_admin):
            query = query.where(SG.project_id == (ctx.project_id or ""))
        if limit is not None:
            query = query.limit(limit)
        with self.db.reading() as tx:
            rows = list(tx.scalars(query))
            members: dict[str, list[str]] = {r.id: [] for r in rows}
            if rows:
                for instance_id, group_id in tx.execute(
                        sa.select(Inst.id, Inst.server_group_id)
                        .where(Inst.server_group_id.in_(members), Inst.deleted.is_(False))
                        .order_by(Inst.created_at, Inst.id)):
                    members[group_id or ""].append(instance_id)
        return [GroupView(r, members[r.id]) for r in rows]

    def get(self, ctx: RequestContext, group_id: str) -> GroupView:
        with self.db.reading() as tx:
            row = self._row(tx, ctx, group_id)
            return GroupView(row, self.members(tx, row.id))

    def delete(self, ctx: RequestContext, group_id: str) -> None:
        with self.db.transaction() as tx:
            tx.delete(self._row(tx, ctx, group_id))

    @staticmethod
    def _row(tx: Session, ctx: RequestContext, group_id: str) -> models.ServerGroup:
        row = tx.get(SG, group_id)
        if row is None or not (ctx.is_admin or row.project_id == ctx.project_id):
            raise NotFound(f"Instance group {group_id} could not be found.")
        return row

    @staticmethod
    def members(tx: Session, group_id: str) -> list[str]:
        """Ids of the group's servers that are not deleted, oldest first."""
        return list(tx.scalars(sa.select(Inst.id).where(
            Inst.server_group_id == group_id, Inst.deleted.is_(False))
            .order_by(Inst.created_at, Inst.id)))

    def get_for_server(self, ctx: RequestContext, group_id: str) -> models.ServerGroup:
        """The group a new server asks for as a hint; 400 when the caller has none such."""
        with self.db.reading() as tx:
            row = tx.get(SG, group_id)
        if row is None or row.project_id != ctx.project_id:
            raise BadRequest(f"Instance group {group_id} could not be found.")
        return row
