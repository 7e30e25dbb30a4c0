"""The SQL rows that anchor the directory's users and groups.

A user or group in the directory has a row of the same id in SQL: what hangs on it
(application credentials, credentials, trusts, a domain's people) refers to that row, and
its unique (domain, name) makes two creations or renames to one name at once a 409,
which the directory alone cannot (a search, then an add). The row holds nothing else.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labs.common.errors import Conflict
from labs.identity import models

Anchored = type[models.User] | type[models.Group]


def rename_anchor(tx: Session, model: Anchored, row_id: str, name: str, what: str) -> None:
    """The anchor follows a rename (409 when the name is taken in the domain)."""
    try:
        with tx.begin_nested():
            tx.execute(sa.update(model).where(model.id == row_id).values(name=name))
    except IntegrityError:
        raise Conflict(f"Conflict occurred attempting to store {what} {name}: "
                       f"duplicate entry.") from None


def drop_anchor(tx: Session, model: Anchored, row_id: str) -> None:
    """The SQL row goes with the entry; what hangs on it (credentials, trusts) too."""
    tx.execute(sa.delete(model).where(model.id == row_id))
