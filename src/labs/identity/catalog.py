"""Regions, services and endpoints: the catalog every token carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import apply_changes, matching, save_unique
from labs.common.errors import BadRequest
from labs.identity import models
from labs.identity.resources import get_row, new_id
from labs.identity.store import IdentityStore

INTERFACES = ("public", "internal", "admin")


@dataclass(frozen=True)
class CatalogEntry:
    """One service with its enabled endpoints, as it appears in a token."""

    id: str
    type: str
    name: str
    endpoints: tuple[models.Endpoint, ...]


def read_catalog(tx: Session) -> list[CatalogEntry]:
    services = tx.scalars(sa.select(models.CatalogService).where(
        models.CatalogService.enabled.is_(True)).order_by(models.CatalogService.type))
    endpoints = list(tx.scalars(sa.select(models.Endpoint).where(
        models.Endpoint.enabled.is_(True)).order_by(models.Endpoint.interface)))
    return [CatalogEntry(s.id, s.type, s.name,
                         tuple(e for e in endpoints if e.service_id == s.id))
            for s in services]


class CatalogService:
    def __init__(self, store: IdentityStore) -> None:
        self.store = store

    def catalog(self) -> list[CatalogEntry]:
        with self.store.read() as tx:
            return read_catalog(tx)

    # -- regions -------------------------------------------------------------
    def create_region(self, fields: dict[str, Any]) -> models.Region:
        with self.store.write() as tx:
            parent = fields.get("parent_region_id")
            if parent:
                get_row(tx, models.Region, parent, "region")
            row = models.Region(id=fields.get("id") or new_id(),
                                description=fields.get("description") or "",
                                parent_region_id=parent)
            save_unique(tx, f"region - a region with id {row.id!r} exists", row)
            return row

    def get_region(self, region_id: str) -> models.Region:
        with self.store.read() as tx:
            row: models.Region = get_row(tx, models.Region, region_id, "region")
            return row

    def list_regions(self) -> list[models.Region]:
        with self.store.read() as tx:
            return list(tx.scalars(sa.select(models.Region).order_by(models.Region.id)))

    def update_region(self, region_id: str, changes: dict[str, Any]) -> models.Region:
        with self.store.write() as tx:
            row: models.Region = get_row(tx, models.Region, region_id, "region")
            if "description" in changes:
                row.description = changes["description"] or ""  # null clears it
            if "parent_region_id" in changes:
                parent = changes["parent_region_id"]
                if parent == region_id:
                    raise BadRequest("A region cannot be its own parent.")
                if parent:
                    get_row(tx, models.Region, parent, "region")
                row.parent_region_id = parent
            return row

    def delete_region(self, region_id: str) -> None:
        with self.store.write() as tx:
            row = get_row(tx, models.Region, region_id, "region")
            used = tx.scalars(sa.select(models.Endpoint.id).where(
                models.Endpoint.region_id == region_id)).first()
            child = tx.scalars(sa.select(models.Region.id).where(
                models.Region.parent_region_id == region_id)).first()
            if used or child:
                raise BadRequest(f"Region {region_id} is still used by endpoints or child "
                                 "regions; remove them first.")
            tx.delete(row)

    # -- services ------------------------------------------------------------
    def create_service(self, fields: dict[str, Any]) -> models.CatalogService:
        with self.store.write() as tx:
            row = models.CatalogService(id=new_id(), type=fields["type"],
                                        name=fields.get("name") or "",
                                        description=fields.get("description") or "",
                                        enabled=fields.get("enabled", True))
            tx.add(row)
            return row

    def get_service(self, service_id: str) -> models.CatalogService:
        with self.store.read() as tx:
            row: models.CatalogService = get_row(tx, models.CatalogService, service_id,
                                                 "service")
            return row

    def list_services(self, type: str | None = None,
                      name: str | None = None) -> list[models.CatalogService]:
        query = matching(sa.select(models.CatalogService).order_by(models.CatalogService.type),
                         type=type, name=name)
        with self.store.read() as tx:
            return list(tx.scalars(query))

    def update_service(self, service_id: str, changes: dict[str, Any]) -> models.CatalogService:
        with self.store.write() as tx:
            row: models.CatalogService = get_row(tx, models.CatalogService, service_id,
                                                 "service")
            apply_changes(row, changes, ("type", "name", "description", "enabled"))
            row.description = row.description or ""  # null clears it
            return row

    def delete_service(self, service_id: str) -> None:
        with self.store.write() as tx:
            row = get_row(tx, models.CatalogService, service_id, "service")
            tx.execute(sa.delete(models.Endpoint).where(models.Endpoint.service_id == service_id))
            tx.delete(row)

    # -- endpoints -----------------------------------------------------------
    def create_endpoint(self, fields: dict[str, Any]) -> models.Endpoint:
        with self.store.write() as tx:
            get_row(tx, models.CatalogService, fields["service_id"], "service")
            region = fields.get("region_id") or fields.get("region")
            if region:
                get_row(tx, models.Region, region, "region")
            row = models.Endpoint(id=new_id(), service_id=fields["service_id"],
                                  interface=fields["interface"], url=fields["url"],
                                  region_id=region, enabled=fields.get("enabled", True))
            tx.add(row)
            return row

    def get_endpoint(self, endpoint_id: str) -> models.Endpoint:
        with self.store.read() as tx:
            row: models.Endpoint = get_row(tx, models.Endpoint, endpoint_id, "endpoint")
            return row

    def list_endpoints(self, service_id: str | None = None, interface: str | None = None,
                       region_id: str | None = None) -> list[models.Endpoint]:
        query = matching(sa.select(models.Endpoint).order_by(models.Endpoint.service_id,
                                                             models.Endpoint.interface),
                         service_id=service_id, interface=interface, region_id=region_id)
        with self.store.read() as tx:
            return list(tx.scalars(query))

    def update_endpoint(self, endpoint_id: str, changes: dict[str, Any]) -> models.Endpoint:
        with self.store.write() as tx:
            row: models.Endpoint = get_row(tx, models.Endpoint, endpoint_id, "endpoint")
            if "service_id" in changes:
                get_row(tx, models.CatalogService, changes["service_id"], "service")
            if changes.get("region_id"):
                get_row(tx, models.Region, changes["region_id"], "region")
            apply_changes(row, changes, ("service_id", "interface", "url", "region_id", "enabled"))
            return row

    def delete_endpoint(self, endpoint_id: str) -> None:
        with self.store.write() as tx:
            tx.delete(get_row(tx, models.Endpoint, endpoint_id, "endpoint"))
