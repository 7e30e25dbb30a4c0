"""Blacklists (Designate's ``/v2/blacklists``): regular expressions of zone names that
only admins may take.

Patterns come from admins but are matched against every zone name a member asks for,
so they run on RE2 (linear time, no backreferences): no pattern can hold the service up.
A pattern is searched for anywhere in the absolute zone name (``pypi.org.``), as
Designate does with ``re.search``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labs.common.db import Database, affected
from labs.common.errors import BadRequest
from labs.common.patterns import Pattern, filter_pattern
from labs.dns import models
from labs.dns.errors import BlacklistNotFound, DuplicateBlacklist, InvalidObject
from labs.dns.listing import Listing, Page, matching, page

B = models.Blacklist
BLACKLIST_SORT_KEYS = ("created_at", "id", "updated_at", "pattern")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def compiled(pattern: str) -> Pattern:
    """The pattern as RE2 runs it (labs.common.patterns); 400 when RE2 cannot (a syntax
    error, a backreference, a pattern too long)."""
    try:
        return filter_pattern(pattern, "pattern")
    except BadRequest as exc:
        message = f"{pattern!r} is not a valid pattern: {exc.message}"
        raise InvalidObject(message, [{"path": ["pattern"], "message": message,
                                       "validator": "format",
                                       "validator_value": "regex"}]) from None


class Blacklists:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, fields: dict[str, Any]) -> models.Blacklist:
        compiled(fields["pattern"])
        row = B(id=str(uuid.uuid4()), pattern=fields["pattern"],
                description=fields.get("description"), created_at=utcnow())
        try:
            with self.db.transaction() as tx:
                tx.add(row)
        except IntegrityError:
            raise DuplicateBlacklist("Duplicate Blacklist") from None
        return row

    def get(self, blacklist_id: str) -> models.Blacklist:
        with self.db.reading() as tx:
            row = tx.get(B, blacklist_id)
        if row is None:
            raise BlacklistNotFound("Could not find Blacklist")
        return row

    def find(self, listing: Listing) -> Page:
        query = sa.select(B)
        if "pattern" in listing.filters:
            query = query.where(matching(B.pattern, listing.filters["pattern"]))
        with self.db.reading() as tx:
            return page(tx, query, B, listing)

    def update(self, blacklist_id: str, fields: dict[str, Any]) -> models.Blacklist:
        if "pattern" in fields:
            compiled(fields["pattern"])
        try:
            with self.db.transaction() as tx:
                row = tx.get(B, blacklist_id)
                if row is None:
                    raise BlacklistNotFound("Could not find Blacklist")
                for key in ("pattern", "description"):
                    if key in fields:
                        setattr(row, key, fields[key])
                row.updated_at = utcnow()
                tx.flush()
        except IntegrityError:
            raise DuplicateBlacklist("Duplicate Blacklist") from None
        return row

    def delete(self, blacklist_id: str) -> None:
        with self.db.transaction() as tx:
            if affected(tx.execute(sa.delete(B).where(B.id == blacklist_id))) != 1:
                raise BlacklistNotFound("Could not find Blacklist")

    @staticmethod
    def blacklisted(tx: Session, zone_name: str) -> bool:
        """Whether any pattern is found in the zone's name."""
        return any(compiled(pattern).search(zone_name) is not None
                   for pattern in tx.scalars(sa.select(B.pattern)))
