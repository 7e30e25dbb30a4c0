"""TSIG keys (Designate's ``/v2/tsigkeys``): admins store a key per pool or zone.

Labs keeps them and serves them back to admins; its own name server and backends do
not sign zone transfers with them yet.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from labs.common.db import Database, affected
from labs.dns import models
from labs.dns.blacklists import utcnow
from labs.dns.errors import DuplicateTsigKey, TsigKeyNotFound
from labs.dns.listing import Listing, Page, matching, page

T = models.TsigKey
TSIGKEY_FILTERS = ("name", "algorithm", "scope")
TSIGKEY_SORT_KEYS = ("created_at", "id", "updated_at", "name")
ALGORITHMS = ("hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384",
              "hmac-sha512")
SCOPES = ("POOL", "ZONE")
UPDATABLE = ("name", "algorithm", "secret", "scope")


class TsigKeys:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, fields: dict[str, Any]) -> models.TsigKey:
        row = T(id=str(uuid.uuid4()), name=fields["name"], algorithm=fields["algorithm"],
                secret=fields["secret"], scope=fields["scope"],
                resource_id=fields["resource_id"], created_at=utcnow())
        try:
            with self.db.transaction() as tx:
                tx.add(row)
        except IntegrityError:
            raise DuplicateTsigKey("Duplicate TsigKey") from None
        return row

    def get(self, key_id: str) -> models.TsigKey:
        with self.db.reading() as tx:
            row = tx.get(T, key_id)
        if row is None:
            raise TsigKeyNotFound("Could not find TsigKey")
        return row

    def find(self, listing: Listing) -> Page:
        query = sa.select(T)
        for key, value in listing.filters.items():
            query = query.where(matching(getattr(T, key), value))
        with self.db.reading() as tx:
            return page(tx, query, T, listing)

    def update(self, key_id: str, fields: dict[str, Any]) -> models.TsigKey:
        try:
            with self.db.transaction() as tx:
                row = tx.get(T, key_id)
                if row is None:
                    raise TsigKeyNotFound("Could not find TsigKey")
                for key in UPDATABLE:
                    if key in fields:
                        setattr(row, key, fields[key])
                row.updated_at = utcnow()
                tx.flush()
        except IntegrityError:
            raise DuplicateTsigKey("Duplicate TsigKey") from None
        return row

    def delete(self, key_id: str) -> None:
        with self.db.transaction() as tx:
            if affected(tx.execute(sa.delete(T).where(T.id == key_id))) != 1:
                raise TsigKeyNotFound("Could not find TsigKey")
