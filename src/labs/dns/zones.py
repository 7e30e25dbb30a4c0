"""Zones: create, show, list, change and delete, with their SOA and NS recordsets.

Every zone holds an SOA recordset (``<primary ns> <email as a name> <serial> <refresh>
<retry> <expire> <minimum>``) and an NS recordset at its apex (the ``[dns]
nameservers``), both kept by the service: users cannot create, change or delete them.
Every change to a zone or its recordsets raises its serial (to the current Unix time,
or by one when that is not larger) and makes it PENDING until the backend serves it.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.dns import models
from labs.dns.config import DnsOptions
from labs.dns.errors import (
    BadRequest,
    DuplicateZone,
    IllegalChildZone,
    IllegalParentZone,
    InvalidZoneName,
    ZoneHasSubZone,
    ZoneNotFound,
)
from labs.dns.listing import Listing, Page, matching, page
from labs.dns.names import absolute_name, email_to_rname, parents
from labs.dns.publisher import Publisher
from labs.dns.quotas import Quotas
from labs.dns.scope import Caller
from labs.dns.tlds import Tlds
from labs.dns.zone_rules import ZoneRules

Z, RS, R = models.Zone, models.RecordSet, models.Record
#: Designate's default pool: Labs has one pool of name servers.
POOL_ID = "794ccc2c-d751-44fe-b57f-8894c9f5c842"
ZONE_FILTERS = ("name", "email", "status", "type", "ttl", "description")
ZONE_SORT_KEYS = ("created_at", "id", "updated_at", "name", "tenant_id", "serial", "ttl",
                  "status")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def record_hash(data: str) -> str:
    return hashlib.sha256(data.encode()).hexdigest()


def new_record(recordset: models.RecordSet, data: str, **managed: Any) -> models.Record:
    return models.Record(id=str(uuid.uuid4()), recordset_id=recordset.id,
                         zone_id=recordset.zone_id, data=data, hash=record_hash(data),
                         managed=bool(managed), **managed)


def new_recordset(zone: models.Zone, name: str, type_: str, ttl: int | None = None,
                  description: str | None = None) -> models.RecordSet:
    return models.RecordSet(id=str(uuid.uuid4()), zone_id=zone.id, project_id=zone.project_id,
                            name=name, type=type_, ttl=ttl, description=description,
                            status="PENDING", action="CREATE", version=1,
                            created_at=utcnow())


def next_serial(current: int) -> int:
    return max(current + 1, int(time.time()))


def find_zone(tx: Session, caller: Caller, zone_id: str, *, lock: bool = False
              ) -> models.Zone:
    """The caller's zone (any zone with all-projects); 404 otherwise."""
    query = sa.select(Z).where(Z.id == zone_id, caller.sees(Z.project_id))
    if lock:
        query = query.with_for_update()
    zone = tx.scalars(query).first()
    if zone is None:
        raise ZoneNotFound("Could not find Zone")
    return zone


def writable_zone(tx: Session, caller: Caller, zone_id: str) -> models.Zone:
    """The zone, locked for a change; a zone being deleted takes none."""
    zone = find_zone(tx, caller, zone_id, lock=True)
    if zone.action == "DELETE":
        raise BadRequest("Can not update a deleting zone")
    return zone


class Zones:
    def __init__(self, db: Database, options: DnsOptions, publisher: Publisher,
                 quotas: Quotas, rules: ZoneRules | None = None) -> None:
        self.db = db
        self.options = options
        self.publisher = publisher
        self.quotas = quotas
        self.rules = rules or ZoneRules.of(options.project_zone_domains, None)

    # -- the SOA and the serial ------------------------------------------------------
    def soa_data(self, zone: models.Zone) -> str:
        o = self.options
        return (f"{o.nameservers[0]} {email_to_rname(zone.email)} {zone.serial} "
                f"{o.soa_refresh} {o.soa_retry} {o.soa_expire} {o.soa_minimum}")

    def touch(self, tx: Session, zone: models.Zone) -> None:
        """Record a change of the zone: a new serial in it and its SOA, PENDING."""
        zone.serial = next_serial(zone.serial)
        zone.version += 1
        zone.updated_at = utcnow()
        if not (zone.status == "PENDING" and zone.action == "CREATE"):
            zone.status, zone.action = "PENDING", "UPDATE"
        soa = tx.scalars(sa.select(RS).where(RS.zone_id == zone.id, RS.type == "SOA")).one()
        data = self.soa_data(zone)
        tx.execute(sa.update(R).where(R.recordset_id == soa.id)
                   .values(data=data, hash=record_hash(data)))

    # -- operations --------------------------------------------------------------------
    def create(self, caller: Caller, fields: dict[str, Any], *, count_quota: bool = True,
               fill: Callable[[Session, models.Zone], None] | None = None) -> models.Zone:
        """A new zone in the caller's project, PENDING CREATE until published; ``fill``
        adds its recordsets in the same transaction (an import)."""
        if fields.get("type", "PRIMARY") != "PRIMARY":
            raise BadRequest("Labs serves PRIMARY zones only.")
        project_id = caller.owning_project()
        name = absolute_name(fields["name"])
        if len(name.rstrip(".").split(".")) < 2:
            raise InvalidZoneName("More than one label is required")
        now = utcnow()
        zone = models.Zone(
            id=str(uuid.uuid4()), project_id=project_id, name=name, email=fields["email"],
            ttl=fields.get("ttl") or self.options.default_ttl, serial=int(time.time()),
            description=fields.get("description"), type="PRIMARY", status="PENDING",
            action="CREATE", version=1, pool_id=POOL_ID, masters=[],
            attributes=dict(fields.get("attributes") or {}), created_at=now, updated_at=None)
        lock = self.quotas.lock_project(project_id) if count_quota else None
        try:
            with self.db.transaction() as tx:
                if lock is not None:
                    lock(tx)  # creates in one project take turns counting
                nest_in = self.rules.check(tx, caller, name)
                Tlds.check_zone_name(tx, name)
                self.check_ownership(tx, project_id, name, nest_in)
                if count_quota:
                    count = tx.scalar(sa.select(sa.func.count()).select_from(Z)
                                      .where(Z.project_id == project_id))
                    self.quotas.check(tx, project_id, zones=int(count or 0) + 1)
                tx.add(zone)
                tx.flush()  # the zone's row first: the recordsets refer to it
                soa = new_recordset(zone, name, "SOA")
                ns = new_recordset(zone, name, "NS")
                tx.add_all([soa, ns])
                tx.flush()
                tx.add(new_record(soa, self.soa_data(zone)))
                tx.add_all(new_record(ns, server) for server in self.options.nameservers)
                if fill is not None:
                    tx.flush()
                    fill(tx, zone)
        except IntegrityError:
            raise DuplicateZone("Duplicate Zone") from None
        self.publisher.publish(zone.id)
        return zone

    @staticmethod
    def check_ownership(tx: Session, project_id: str, name: str,
                         nest_in: str | None = None, *, moving: bool = False) -> None:
        """No two zones of one name; no zone inside or above another project's zone
        (but a project's own subdomain may sit in the cloud's zone `nest_in`). A zone
        ``moving`` to `project_id` exists already."""
        same = None if moving else tx.scalars(sa.select(Z).where(Z.name == name)).first()
        if same is not None:
            raise DuplicateZone("Duplicate Zone" if same.project_id == project_id else
                                "Zone already exists, owned by a different project")
        above = {z.name: z for z in tx.scalars(sa.select(Z).where(Z.name.in_(parents(name))))}
        for parent in parents(name):
            if parent in above:
                if above[parent].project_id != project_id and parent != nest_in:
                    raise IllegalChildZone("Unable to create subzone in another project's "
                                           "zone")
                break
        below = tx.scalars(sa.select(Z.project_id).where(matching(Z.name, "*." + name)))
        if any(owner != project_id for owner in below):
            raise IllegalParentZone("Unable to create zone because another project owns a "
                                    "subzone of the zone")

    def get(self, caller: Caller, zone_id: str) -> models.Zone:
        with self.db.reading() as tx:
            return find_zone(tx, caller, zone_id)

    def find(self, caller: Caller, listing: Listing) -> Page:
        query = sa.select(Z).where(caller.sees(Z.project_id))
        for key, value in listing.filters.items():
            if key == "ttl":
                query = query.where(Z.ttl == int(value))
            else:
                query = query.where(matching(getattr(Z, key),
                                             value.lower() if key == "name" else value))
        sort = "project_id" if listing.sort_key == "tenant_id" else listing.sort_key
        with self.db.reading() as tx:
            return page(tx, query, Z, Listing(listing.filters, listing.limit, listing.marker,
                                              sort, listing.sort_dir))

    def update(self, caller: Caller, zone_id: str, fields: dict[str, Any]) -> models.Zone:
        """Change the email, TTL or description; the serial goes up."""
        with self.db.transaction() as tx:
            zone = writable_zone(tx, caller, zone_id)
            for key in ("email", "ttl", "description"):
                if key in fields:
                    setattr(zone, key, fields[key])
            self.touch(tx, zone)
        self.publisher.publish(zone.id)
        return zone

    def delete(self, caller: Caller, zone_id: str) -> models.Zone:
        """PENDING DELETE until the backend stops serving it; then it is gone."""
        with self.db.transaction() as tx:
            zone = writable_zone(tx, caller, zone_id)
            if tx.scalars(sa.select(Z.id).where(matching(Z.name, "*." + zone.name))).first():
                raise ZoneHasSubZone("Please delete any subzones before deleting this zone")
            zone.status, zone.action, zone.updated_at = "PENDING", "DELETE", utcnow()
            zone.version += 1
        self.publisher.publish(zone.id)
        return zone

    def first_created(self) -> datetime | None:
        """When the oldest zone was made (the pool's age, as far as Labs knows it)."""
        with self.db.reading() as tx:
            return tx.scalar(sa.select(sa.func.min(Z.created_at)))

    def nameservers(self, caller: Caller, zone_id: str) -> list[tuple[str, int]]:
        """(hostname, priority) of each name server of the zone."""
        with self.db.reading() as tx:
            find_zone(tx, caller, zone_id)
        return [(name, i + 1) for i, name in enumerate(self.options.nameservers)]
