"""Keystone's account lockout: too many failed password checks lock a user for a while.

``lockout_failure_attempts`` failures in a row lock the user for ``lockout_duration``
seconds from the last one (0: until an admin re-enables the user); while locked,
even the right password gets 401 and costs no bcrypt check. A success resets the
count, and so does an admin setting ``enabled: true`` (as Keystone).

The counts are rows in the database, so every worker process and every host sees
the same ones. As in Keystone, a failure is counted after its check: parallel
guesses may run as many checks as the bcrypt pool admits before the lock holds.
Counting never changes the identity revision: no token cache is emptied by a bad
password.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from labs.common.db import Database, affected
from labs.identity import models
from labs.identity.resources import utcnow

F = models.LoginFailure


class Lockout:
    def __init__(self, db: Database, attempts: int, duration: int) -> None:
        self.db = db
        self.attempts = attempts
        self.duration = duration

    @property
    def enabled(self) -> bool:
        return self.attempts > 0

    def check(self, user_id: str, attempt: Callable[[], bool]) -> bool:
        """Run ``attempt`` (a password check) and count it; False, unrun, when locked."""
        if self.enabled and self._locked(user_id):
            return False
        matched = attempt()
        if matched:
            self.forgive(user_id)
        elif self.enabled:
            self._count_failure(user_id)
        return matched

    def _locked(self, user_id: str) -> bool:
        with self.db.reading() as tx:  # a locked user's storm costs one read a login
            row = tx.get(F, user_id)
        return row is not None and row.count >= self.attempts and (
            self.duration == 0
            or row.last_failed_at > utcnow() - timedelta(seconds=self.duration))

    def _count_failure(self, user_id: str) -> None:
        now = utcnow()
        count: sa.ColumnElement[int] = F.count + 1
        if self.duration > 0:
            # a lock that ran out: this failure is the first of a new count
            over = sa.and_(F.count >= self.attempts,
                           F.last_failed_at <= now - timedelta(seconds=self.duration))
            count = sa.case((over, 1), else_=F.count + 1)
        update = sa.update(F).where(F.user_id == user_id).values(count=count,
                                                                 last_failed_at=now)
        for _attempt in range(2):
            with self.db.transaction() as tx:
                if affected(tx.execute(update)):
                    return
            try:
                with self.db.transaction() as tx:
                    tx.add(F(user_id=user_id, count=1, last_failed_at=now))
                return
            except IntegrityError:
                continue  # another process counted this user's first failure meanwhile

    def forgive(self, user_id: str) -> None:
        """A success: the count starts again from nothing."""
        if self.enabled:
            with self.db.transaction() as tx:
                tx.execute(sa.delete(F).where(F.user_id == user_id))
