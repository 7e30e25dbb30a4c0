"""Top-level domains: when an admin has made any, a zone's name must end in one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labs.common.db import Database, affected
from labs.dns import models
from labs.dns.errors import DuplicateTld, InvalidZoneName, TldNotFound
from labs.dns.listing import Listing, Page, matching, page
from labs.dns.names import parents

T = models.Tld


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def tld_name(value: str) -> str:
    """How TLDs are kept: lower case, without the trailing dot."""
    return value.strip().lower().rstrip(".")


class Tlds:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, fields: dict[str, Any]) -> models.Tld:
        row = models.Tld(id=str(uuid.uuid4()), name=tld_name(fields["name"]),
                         description=fields.get("description"), created_at=utcnow())
        try:
            with self.db.transaction() as tx:
                tx.add(row)
        except IntegrityError:
            raise DuplicateTld("Duplicate Tld") from None
        return row

    def get(self, tld_id: str) -> models.Tld:
        with self.db.reading() as tx:
            row = tx.get(T, tld_id)
        if row is None:
            raise TldNotFound("Could not find Tld")
        return row

    def find(self, listing: Listing) -> Page:
        query = sa.select(T)
        if "name" in listing.filters:
            query = query.where(matching(T.name, tld_name(listing.filters["name"])))
        with self.db.reading() as tx:
            return page(tx, query, T, listing)

    def update(self, tld_id: str, fields: dict[str, Any]) -> models.Tld:
        try:
            with self.db.transaction() as tx:
                row = tx.get(T, tld_id)
                if row is None:
                    raise TldNotFound("Could not find Tld")
                if "name" in fields:
                    row.name = tld_name(fields["name"])
                if "description" in fields:
                    row.description = fields["description"]
                row.updated_at = utcnow()
                tx.flush()
        except IntegrityError:
            raise DuplicateTld("Duplicate Tld") from None
        return row

    def delete(self, tld_id: str) -> None:
        with self.db.transaction() as tx:
            if affected(tx.execute(sa.delete(T).where(T.id == tld_id))) != 1:
                raise TldNotFound("Could not find Tld")

    @staticmethod
    def check_zone_name(tx: Session, zone_name: str) -> None:
        """With TLDs defined, a zone must sit under one and not be one."""
        if tx.scalar(sa.select(sa.func.count()).select_from(T)) == 0:
            return
        bare = zone_name.rstrip(".")
        under = [p.rstrip(".") for p in parents(zone_name)]
        found = set(tx.scalars(sa.select(T.name).where(T.name.in_([bare, *under]))))
        if bare in found:
            raise InvalidZoneName("Zone name cannot be the same as a TLD")
        if not found:
            raise InvalidZoneName("Invalid TLD")
