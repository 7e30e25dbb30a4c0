"""Units of work over the identity tables, and the revision that caches trust.

Every write bumps one counter in the same transaction. A cache entry stamped
with revision N is exact for as long as the counter reads N, in any process,
so a revoked token or a removed role takes effect at the next request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.common.errors import BadRequest
from labs.identity import models

_BUMP = sa.update(models.Revision).where(models.Revision.id == 1).values(
    revision=models.Revision.revision + 1)
_READ = sa.select(models.Revision.revision).where(models.Revision.id == 1)


class IdentityStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_revision_row(self) -> None:
        with self.db.transaction() as tx:
            if tx.get(models.Revision, 1) is None:
                tx.add(models.Revision(id=1, revision=0))

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.db.reading() as tx:
            yield tx

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction whose commit also bumps the identity revision."""
        try:
            with self.db.transaction() as tx:
                yield tx
                tx.flush()
                tx.execute(_BUMP)
        except DataError:
            # MariaDB refuses what a column cannot hold (a TEXT is 65535 bytes)
            raise BadRequest("A value does not fit its field: too long or out of "
                             "range.") from None

    def revision(self) -> int:
        return int(self.db.scalar(_READ))
