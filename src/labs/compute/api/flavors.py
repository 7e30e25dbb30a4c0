"""Flavors: the sizes servers come in. Everyone sees public flavors; a private one only
admins and the projects on its access list."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from labs.common.context import RequestContext
from labs.common.db import Database, affected, save_unique
from labs.common.errors import BadRequest, Conflict, NotFound
from labs.common.numbers import is_digits
from labs.compute import models
from labs.compute.payloads import utcnow

F, FA = models.Flavor, models.FlavorAccess

#: What `labs up` offers on a new cloud (name, vcpus, ram MiB, disk GiB), Nova's sizes
#: for the small ones plus a tiny one the Labs image boots in.
DEFAULT_FLAVORS = (("1", "m1.tiny", 1, 512, 1), ("2", "m1.small", 1, 2048, 20),
                   ("3", "m1.medium", 2, 4096, 40), ("4", "m1.large", 4, 8192, 80),
                   ("5", "m1.xlarge", 8, 16384, 160), ("6", "g1.nano", 1, 128, 1))


@dataclass(frozen=True)
class FlavorFilter:
    is_public: bool | None = True  # None: all the caller may see
    min_ram: int | None = None
    min_disk: int | None = None


class FlavorService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_defaults(self) -> None:
        with self.db.transaction() as tx:
            if tx.scalar(sa.select(sa.func.count()).select_from(F)):
                return
            for flavor_id, name, vcpus, ram, disk in DEFAULT_FLAVORS:
                tx.add(F(id=flavor_id, name=name, vcpus=vcpus, ram=ram, disk=disk,
                         created_at=utcnow(), extra_specs={}))

    @staticmethod
    def _visible(ctx: RequestContext) -> sa.ColumnElement[bool]:
        if ctx.is_admin:
            return sa.true()
        shared = sa.select(FA.flavor_id).where(FA.project_id == (ctx.project_id or ""))
        return sa.or_(F.is_public.is_(True), F.id.in_(shared))

    def list_flavors(self, ctx: RequestContext, where: FlavorFilter) -> list[models.Flavor]:
        query = sa.select(F).where(self._visible(ctx))
        if where.is_public is not None and ctx.is_admin:  # others see what _visible allows
            query = query.where(F.is_public.is_(where.is_public))
        if where.min_ram is not None:
            query = query.where(F.ram >= where.min_ram)
        if where.min_disk is not None:
            query = query.where(F.disk >= where.min_disk)
        with self.db.reading() as tx:
            rows = list(tx.scalars(query))
        # Nova's order: by flavorid, numbers in numeric order
        return sorted(rows, key=lambda f: (0, int(f.id), "") if is_digits(f.id) else (1, 0, f.id))

    def get(self, ctx: RequestContext, flavor_id: str) -> models.Flavor:
        with self.db.reading() as tx:
            row = tx.scalars(sa.select(F).where(F.id == flavor_id, self._visible(ctx))).first()
        if row is None:
            raise NotFound(f"Flavor {flavor_id} could not be found.")
        return row

    def create(self, fields: dict[str, Any]) -> models.Flavor:
        flavor_id = fields.get("id") or str(uuid.uuid4())
        row = F(id=str(flavor_id), name=fields["name"], vcpus=fields["vcpus"],
                ram=fields["ram"], disk=fields["disk"],
                ephemeral=fields.get("OS-FLV-EXT-DATA:ephemeral", 0),
                swap=fields.get("swap") or 0, rxtx_factor=fields.get("rxtx_factor", 1.0),
                is_public=fields.get("os-flavor-access:is_public", True),
                description=fields.get("description"), extra_specs={}, created_at=utcnow())
        with self.db.transaction() as tx:
            if tx.get(F, row.id) is not None:
                raise Conflict(f"Flavor with ID {row.id} already exists.")
            save_unique(tx, f"Flavor with name {row.name} already exists.", row)
        return row

    def update_description(self, flavor_id: str, description: str | None) -> models.Flavor:
        with self.db.transaction() as tx:
            row = self._row(tx, flavor_id)
            row.description = description
            return row

    def delete(self, flavor_id: str) -> None:
        with self.db.transaction() as tx:
            tx.delete(self._row(tx, flavor_id))

    @staticmethod
    def _row(tx: Any, flavor_id: str) -> models.Flavor:
        row: models.Flavor | None = tx.get(F, flavor_id)
        if row is None:
            raise NotFound(f"Flavor {flavor_id} could not be found.")
        return row

    # -- extra specs and access ----------------------------------------------------
    def set_extra_specs(self, flavor_id: str, specs: dict[str, str]) -> dict[str, str]:
        with self.db.transaction() as tx:
            row = self._row(tx, flavor_id)
            row.extra_specs = {**(row.extra_specs or {}), **specs}
            return dict(row.extra_specs)

    def unset_extra_spec(self, flavor_id: str, key: str) -> None:
        with self.db.transaction() as tx:
            row = self._row(tx, flavor_id)
            specs = dict(row.extra_specs or {})
            if key not in specs:
                raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
            del specs[key]
            row.extra_specs = specs

    def access(self, flavor_id: str) -> list[str]:
        with self.db.reading() as tx:
            row = self._row(tx, flavor_id)
            if row.is_public:
                raise NotFound("Access list not available for public flavors.")
            return list(tx.scalars(sa.select(FA.project_id).where(FA.flavor_id == flavor_id)
                                   .order_by(FA.project_id)))

    def add_access(self, flavor_id: str, project_id: str) -> list[str]:
        with self.db.transaction() as tx:
            row = self._row(tx, flavor_id)
            if row.is_public:
                raise Conflict("Can not add access to a public flavor.")
            save_unique(tx, f"Flavor access already exists for flavor {flavor_id} and "
                        f"project {project_id} combination.",
                        FA(flavor_id=flavor_id, project_id=project_id))
        return self.access(flavor_id)

    def remove_access(self, flavor_id: str, project_id: str) -> list[str]:
        with self.db.transaction() as tx:
            self._row(tx, flavor_id)
            gone = tx.execute(sa.delete(FA).where(FA.flavor_id == flavor_id,
                                                  FA.project_id == project_id))
            if not affected(gone):
                raise NotFound(f"Flavor access not found for {flavor_id} / {project_id} "
                               "combination.")
        return self.access(flavor_id)


def check_fits(flavor: models.Flavor, min_disk: int, min_ram: int, size: int = 0,
               virtual_size: int = 0) -> None:
    """Nova's checks of an image against a flavor: its minimums, and that its data and
    the disk it holds fit the flavor's root disk (a flavor with disk 0 takes any)."""
    if flavor.ram < min_ram:
        raise BadRequest("Flavor's memory is too small for requested image.")
    if flavor.disk and flavor.disk < min_disk:
        raise BadRequest("Flavor's disk is too small for requested image.")
    disk_bytes = flavor.disk * 1024 ** 3
    for need in (size, virtual_size):
        if flavor.disk and need > disk_bytes:
            raise BadRequest(f"Flavor's disk is too small for requested image. Flavor disk "
                             f"is {disk_bytes} bytes, image is {need} bytes.")
