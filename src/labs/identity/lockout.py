"""Keystone's account lockout: too many failed password checks lock a user for a while.

``lockout_failure_attempts`` failures in a row lock the user for ``lockout_duration``
seconds from the last one (0: until an admin re-enables the user); while locked,
even the right password gets 401 and costs no bcrypt check. A success resets the
count, and so does an admin setting ``enabled: true`` (as Keystone).

The counts are rows in the database, so every worker process and every host sees
the same ones. An attempt is counted *before* its password is checked and
forgiven when it succeeds: parallel guesses cannot run more checks than the
limit allows, however many arrive at once. Counting never changes the identity
revision: no token cache is emptied by a bad password.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from labs.common.db import Database
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

    def charge(self, user_id: str) -> bool:
        """Count one attempt for ``user_id``; False when the user is locked."""
        if not self.enabled:
            return True
        now = utcnow()
        expired_before = now - timedelta(seconds=self.duration)
        with self.db.reading() as tx:  # a locked user's storm costs one read a login
            row = tx.get(F, user_id)
            if row is not None and row.count >= self.attempts and (
                    self.duration == 0 or row.last_failed_at > expired_before):
                return False
        may_try = F.count < self.attempts
        restart: sa.ColumnElement[int] | int = F.count + 1
        if self.duration > 0:
            over = F.last_failed_at <= expired_before
            may_try = sa.or_(may_try, over)
            # the lock has run out: this attempt is the first of a new count
            restart = sa.case((over, 1), else_=F.count + 1)
        update = sa.update(F).where(F.user_id == user_id, may_try).values(
            count=restart, last_failed_at=now)
        for _attempt in range(2):
            with self.db.transaction() as tx:
                if tx.execute(update).rowcount:  # type: ignore[attr-defined]
                    return True
                if tx.get(F, user_id) is not None:
                    return False  # a row that may not try: locked
            try:
                with self.db.transaction() as tx:
                    tx.add(F(user_id=user_id, count=1, last_failed_at=now))
                return True
            except IntegrityError:
                continue  # another process counted this user's first attempt meanwhile
        return False

    def check(self, user_id: str, attempt: Callable[[], bool]) -> bool:
        """Count ``attempt`` (a password check) and run it; False, unrun, when locked."""
        if not self.charge(user_id):
            return False
        try:
            matched = attempt()
        except BaseException:
            self._refund(user_id)  # never checked (e.g. no turn for bcrypt): not a failure
            raise
        if matched:
            self.forgive(user_id)
        return matched

    def _refund(self, user_id: str) -> None:
        if self.enabled:
            with self.db.transaction() as tx:
                tx.execute(sa.update(F).where(F.user_id == user_id, F.count > 0).values(
                    count=F.count - 1))

    def forgive(self, user_id: str) -> None:
        """A success: the count starts again from nothing."""
        if self.enabled:
            with self.db.transaction() as tx:
                tx.execute(sa.delete(F).where(F.user_id == user_id))
