"""Directory writes that follow the request's SQL transaction.

LDAP has no transaction to join, so each write comes with its undo: the undos of a
request run, newest first, when its SQL transaction rolls back (a later step failed,
SQL refused the commit, or the directory died between two writes), and are dropped
when it commits. An undo that cannot reach the directory is kept by the
:class:`~labs.directory.connection.Directory` and runs before its next request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from labs.directory.connection import Directory, DirectoryUnavailable

log = logging.getLogger(__name__)
_JOURNAL = "labs.directory.undo"
Action = Callable[[], None]


class UndoJournal:
    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        #: Called with a step's name before each write (tests stop the directory there).
        self.before_write: Callable[[str], None] = lambda step: None

    def write(self, tx: Session, step: str, do: Action, undo: Action) -> None:
        """``do`` now; ``undo`` if ``tx`` rolls back."""
        journal = self._journal(tx)
        self.before_write(step)
        do()
        journal.append(undo)

    def _journal(self, tx: Session) -> list[Action]:
        journal: list[Action] | None = tx.info.get(_JOURNAL)
        if journal is None:
            journal = tx.info[_JOURNAL] = []
            pending = journal

            def committed(session: Session) -> None:
                if not session.in_nested_transaction():  # a savepoint's release is no commit
                    pending.clear()

            def rolled_back(_session: Session, previous: SessionTransaction) -> None:
                if previous.parent is None:  # the request's transaction, not a savepoint
                    self._undo(pending)

            event.listen(tx, "after_commit", committed)
            event.listen(tx, "after_soft_rollback", rolled_back)
        return journal

    def _undo(self, journal: list[Action]) -> None:
        pending = list(reversed(journal))
        journal.clear()
        for index, undo in enumerate(pending):
            try:
                undo()
            except DirectoryUnavailable:
                for later in pending[index:]:
                    self.directory.repair_later(later)
                return
            except Exception:  # the others still run; the request's own error stands
                log.exception("undoing a directory write failed")
