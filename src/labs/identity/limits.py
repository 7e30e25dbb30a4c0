"""Unified limits (Keystone's flat model): registered defaults and per-project limits.

Stored and served only: each Labs service still enforces its own quotas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labs.common.errors import BadRequest, Conflict, Forbidden, NotFound
from labs.identity import models
from labs.identity.resources import new_id
from labs.identity.store import IdentityStore

RL, L = models.RegisteredLimit, models.Limit
MODEL = {"name": "flat", "description": "Limit enforcement and validation does not take "
                                        "project hierarchy into consideration."}


@dataclass(frozen=True)
class LimitFilter:
    service_id: str | None = None
    region_id: str | None = None
    resource_name: str | None = None
    project_id: str | None = None
    domain_id: str | None = None
    #: Only limits of these owners (project or domain ids); None: any.
    owners: frozenset[str] | None = None


@dataclass(frozen=True)
class LimitView:
    """A limit with the registered limit's service, region and resource."""

    row: models.Limit
    registered: models.RegisteredLimit


def _invalid(attribute: str, target: str) -> BadRequest:
    return BadRequest(f"Invalid {attribute} for {target}: it does not exist.")


def _check_catalog(tx: Session, body: dict[str, Any], target: str) -> None:
    if tx.get(models.CatalogService, body["service_id"]) is None:
        raise _invalid("service_id", target)
    if body.get("region_id") is not None and tx.get(models.Region, body["region_id"]) is None:
        raise _invalid("region_id", target)


def _find(tx: Session, service_id: str, region_id: str | None,
          resource_name: str) -> models.RegisteredLimit | None:
    # "== None" is IS NULL: the unique key alone lets NULL regions repeat
    return tx.scalars(sa.select(RL).where(RL.service_id == service_id,
                                          RL.region_id == region_id,
                                          RL.resource_name == resource_name)).first()


def _check_unique(tx: Session, row: models.RegisteredLimit) -> None:
    found = _find(tx, row.service_id, row.region_id, row.resource_name)
    if found is not None and found is not row:
        raise Conflict(f"Conflict occurred attempting to store registered limit - "
                       f"{row.resource_name!r} of service {row.service_id} is registered.")


def _add(tx: Session, row: object, what: str) -> None:
    """Add and flush; a clash (two requests at once) is a 409. No savepoint: a batch
    is all or nothing, and a refused item takes the batch's earlier ones with it."""
    try:
        tx.add(row)
        tx.flush()
    except IntegrityError:
        raise Conflict(f"Conflict occurred attempting to store {what}: duplicate "
                       "entry.") from None


class LimitService:
    def __init__(self, store: IdentityStore) -> None:
        self.store = store

    # -- registered limits ---------------------------------------------------
    def create_registered(self, bodies: list[dict[str, Any]]) -> list[models.RegisteredLimit]:
        """All or nothing, as Keystone's batch create."""
        with self.store.write() as tx:
            rows = []
            for body in bodies:
                _check_catalog(tx, body, "registered limit")
                row = RL(id=new_id(), service_id=body["service_id"],
                         region_id=body.get("region_id"), resource_name=body["resource_name"],
                         default_limit=body["default_limit"], description=body.get("description"))
                _check_unique(tx, row)
                _add(tx, row, "registered limit")
                rows.append(row)
            return rows

    def list_registered(self, where: LimitFilter) -> list[models.RegisteredLimit]:
        query = sa.select(RL).order_by(RL.service_id, RL.resource_name, RL.id)
        for column, value in ((RL.service_id, where.service_id), (RL.region_id, where.region_id),
                              (RL.resource_name, where.resource_name)):
            if value is not None:
                query = query.where(column == value)
        with self.store.read() as tx:
            return list(tx.scalars(query))

    def get_registered(self, limit_id: str) -> models.RegisteredLimit:
        with self.store.read() as tx:
            return self._registered(tx, limit_id)

    @staticmethod
    def _registered(tx: Session, limit_id: str) -> models.RegisteredLimit:
        row = tx.get(RL, limit_id)
        if row is None:
            raise NotFound(f"Could not find registered limit for {limit_id}.")
        return row

    @staticmethod
    def _in_use(tx: Session, row: models.RegisteredLimit) -> None:
        if tx.scalars(sa.select(L.id).where(L.registered_limit_id == row.id).limit(1)).first():
            raise Forbidden(f"Unable to update or delete registered limit {row.id} because "
                            "there are project limits associated with it.")

    def update_registered(self, limit_id: str, changes: dict[str, Any]) -> models.RegisteredLimit:
        with self.store.write() as tx:
            row = self._registered(tx, limit_id)
            keys = ("service_id", "region_id", "resource_name")
            if any(k in changes and changes[k] != getattr(row, k) for k in keys):
                self._in_use(tx, row)
            merged = {k: changes.get(k, getattr(row, k)) for k in keys}
            _check_catalog(tx, merged, "registered limit")
            for key in (*keys, "default_limit", "description"):
                if key in changes:
                    setattr(row, key, changes[key])
            with tx.no_autoflush:
                _check_unique(tx, row)
            return row

    def delete_registered(self, limit_id: str) -> None:
        with self.store.write() as tx:
            row = self._registered(tx, limit_id)
            self._in_use(tx, row)
            tx.delete(row)

    # -- limits --------------------------------------------------------------
    def create(self, bodies: list[dict[str, Any]]) -> list[LimitView]:
        with self.store.write() as tx:
            out = []
            for body in bodies:
                _check_catalog(tx, body, "limit")
                owner = body.get("project_id") or body.get("domain_id")
                if body.get("project_id") and tx.get(models.Project, owner) is None:
                    raise _invalid("project_id", "limit")
                if body.get("domain_id") and tx.get(models.Domain, owner) is None:
                    raise _invalid("domain_id", "limit")
                registered = _find(tx, body["service_id"], body.get("region_id"),
                                   body["resource_name"])
                if registered is None:
                    raise Forbidden("Unable to create a limit that has no corresponding "
                                    "registered limit.")
                row = L(id=new_id(), owner_id=owner, registered_limit_id=registered.id,
                        project_id=body.get("project_id"), domain_id=body.get("domain_id"),
                        resource_limit=body["resource_limit"], description=body.get("description"))
                if tx.scalars(sa.select(L.id).where(L.registered_limit_id == registered.id,
                                                    L.owner_id == owner)).first():
                    raise Conflict(f"Conflict occurred attempting to store limit - "
                                   f"{registered.resource_name!r} of {owner} is set.")
                _add(tx, row, "limit")
                out.append(LimitView(row, registered))
            return out

    def list(self, where: LimitFilter) -> list[LimitView]:
        query = sa.select(L, RL).join(RL, L.registered_limit_id == RL.id).order_by(
            RL.service_id, RL.resource_name, L.owner_id)
        for column, value in ((RL.service_id, where.service_id), (RL.region_id, where.region_id),
                              (RL.resource_name, where.resource_name),
                              (L.project_id, where.project_id), (L.domain_id, where.domain_id)):
            if value is not None:
                query = query.where(column == value)
        if where.owners is not None:
            query = query.where(L.owner_id.in_(where.owners))
        with self.store.read() as tx:
            return [LimitView(row, registered) for row, registered in tx.execute(query)]

    def get(self, limit_id: str) -> LimitView:
        with self.store.read() as tx:
            return self._limit(tx, limit_id)

    @staticmethod
    def _limit(tx: Session, limit_id: str) -> LimitView:
        row = tx.get(L, limit_id)
        if row is None:
            raise NotFound(f"Could not find limit for {limit_id}.")
        return LimitView(row, tx.get_one(RL, row.registered_limit_id))

    def update(self, limit_id: str, changes: dict[str, Any]) -> LimitView:
        with self.store.write() as tx:
            found = self._limit(tx, limit_id)
            for key in ("resource_limit", "description"):
                if key in changes:
                    setattr(found.row, key, changes[key])
            return found

    def delete(self, limit_id: str) -> None:
        with self.store.write() as tx:
            tx.delete(self._limit(tx, limit_id).row)
