"""POSIX accounts: every user's shell name, uid and gid, from one ledger in SQL.

The ledger (``posix_allocation``) is the identity database's whatever the backend: a
row per shell name ever given. Its autoincrement key numbers the uid (and the gid of
the user's own group): concurrent sign-ups get distinct numbers from the engine
without a lock held for the rest of their transaction (a counter row would serialise
every sign-up behind the slowest password hash), and as a deleted user's row stays,
with ``released_at`` set, neither its number nor its shell name comes back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
import re
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from labs.common.errors import BadRequest, Conflict
from labs.common.http.errors import is_contention
from labs.identity import models
from labs.identity.backends.base import PosixIdentity

SHELL_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
MAX_SHELL_NAME = 32
#: The first uid (and gid) handed out: clear of Debian's system and local users.
FIRST_UID = 10000
DEFAULT_LOGIN_SHELL = "/bin/bash"
#: The login shells an account may choose.
LOGIN_SHELLS = ("/bin/bash", "/bin/sh", "/bin/dash", "/bin/zsh", "/usr/bin/zsh",
                "/usr/bin/fish", "/bin/tcsh")
#: Names a VM already has (Debian's system users, the image's own) and never an account's.
RESERVED = frozenset((
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "nogroup", "sshd",
    "messagebus", "systemd-network", "systemd-resolve", "systemd-timesync", "_apt",
    "polkitd", "labs", "debian", "admin-group", "sudo", "adm", "wheel", "staff", "users",
    "ntp", "postfix", "statd", "tss", "uuidd", "dnsmasq", "nslcd", "nscd", "puppet",
))
#: What project groups' names start with (``project-<label>``): a VM's group file names
#: each account's own group after it, so no account is named so.
GROUP_PREFIX = "project-"
#: Derived names tried before giving up (alice, alice1, alice2, ...).
MAX_SUFFIX = 1000


def check_shell_name(name: str) -> str:
    """``name`` when it is a valid shell name; 400 otherwise."""
    if len(name) > MAX_SHELL_NAME:
        raise BadRequest(f"Invalid shell_name: at most {MAX_SHELL_NAME} characters.")
    if not SHELL_NAME.fullmatch(name):
        raise BadRequest("Invalid shell_name: it must start with a lower-case letter and "
                         "hold only lower-case letters, digits, '_' and '-' "
                         "(^[a-z][a-z0-9_-]*$).")
    return name


def derive_shell_name(login_name: str) -> str:
    """A shell name from a login name: accents dropped, lower case, other characters
    folded to '-' (one at a time), starting at its first letter ('user' when it has none)."""
    ascii_name = unicodedata.normalize("NFKD", login_name).encode("ascii", "ignore").decode()
    folded = re.sub(r"[^a-z0-9_-]+", "-", ascii_name.lower())
    folded = re.sub(r"--+", "-", folded)
    folded = re.sub(r"^[^a-z]+", "", folded).rstrip("-_")
    if folded.startswith(GROUP_PREFIX):
        folded = "user-" + folded
    return folded[:MAX_SHELL_NAME - 4].rstrip("-_") or "user"


def home_of(shell_name: str) -> str:
    return f"/home/{shell_name}"


def identity_of(number: int, shell_name: str, login_shell: str = DEFAULT_LOGIN_SHELL
                ) -> PosixIdentity:
    uid = gid_of(number)
    return PosixIdentity(shell_name=shell_name, uid_number=uid, gid_number=uid,
                         home_directory=home_of(shell_name), login_shell=login_shell)


#: Times a user's creation is tried when it loses to others.
ATTEMPTS = 8
T = TypeVar("T")


def _lost(exc: BaseException | None) -> bool:
    """A transaction lost to others (a deadlock, a lock timeout), maybe surfacing as a
    failed rollback of the savepoint the engine had already rolled back."""
    while exc is not None:
        if isinstance(exc, DBAPIError) and is_contention(exc):
            return True
        exc = exc.__context__
    return False


def retry_contention(work: Callable[[], T]) -> T:
    """Run ``work`` (one whole transaction) again when InnoDB picked it as a deadlock's
    victim: sign-ups whose derived shell names collide lock the same keys of the ledger's
    unique index in different orders. The engine rolled it back whole, so nothing is
    left of a lost try."""
    for attempt in range(ATTEMPTS):
        try:
            return work()
        except DBAPIError as exc:
            if attempt == ATTEMPTS - 1 or not _lost(exc):
                raise
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
    raise AssertionError("unreachable")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class PosixLedger:
    """Allocates in the caller's transaction (the one that creates the user)."""

    def allocate(self, tx: Session, user_id: str, login_name: str,
                 shell_name: str | None = None) -> PosixIdentity:
        """A new account for ``user_id``: ``shell_name`` as given (400 when invalid,
        409 when taken) or derived from ``login_name`` and made unique. A user that
        has a row already gets it back."""
        mine = tx.scalars(sa.select(models.PosixAllocation).where(
            models.PosixAllocation.user_id == user_id)).first()
        if mine is not None and mine.shell_name is not None:
            return identity_of(mine.number, mine.shell_name)
        if shell_name is not None:
            check_shell_name(shell_name)
            if shell_name in RESERVED or shell_name.startswith(GROUP_PREFIX):
                raise Conflict(f"The shell name {shell_name!r} is reserved (as are names "
                               f"starting with {GROUP_PREFIX!r}, the projects' groups).")
            found = self._take(tx, user_id, shell_name)
            if found is None:
                raise Conflict(f"The shell name {shell_name!r} is taken.")
            return found
        base = derive_shell_name(login_name)
        for suffix in range(MAX_SUFFIX):
            name = base if suffix == 0 else f"{base}{suffix}"
            if name in RESERVED or self.is_taken(tx, name):
                continue
            found = self._take(tx, user_id, name)
            if found is not None:
                return found
        raise Conflict(f"No free shell name like {base!r}; give one as shell_name.")

    @staticmethod
    def is_taken(tx: Session, shell_name: str) -> bool:
        """Whether the name was ever given (a deleted user's name stays taken)."""
        return tx.scalar(sa.select(models.PosixAllocation.number).where(
            models.PosixAllocation.shell_name == shell_name)) is not None

    @staticmethod
    def _take(tx: Session, user_id: str, shell_name: str) -> PosixIdentity | None:
        """Insert the ledger row; None when another transaction has the name."""
        row = models.PosixAllocation(shell_name=shell_name, user_id=user_id,
                                     created_at=_now())
        try:
            with tx.begin_nested():
                tx.add(row)
                tx.flush()
        except IntegrityError:
            return None
        return identity_of(row.number, shell_name)

    @staticmethod
    def release(tx: Session, user_id: str) -> None:
        """The user is gone: its row stays as a tombstone."""
        tx.execute(sa.update(models.PosixAllocation).where(
            models.PosixAllocation.user_id == user_id,
            models.PosixAllocation.released_at.is_(None)).values(released_at=_now()))


def gid_of(number: int) -> int:
    """A ledger row's number as a gid (a project's group)."""
    return FIRST_UID + number - 1


class ProjectGroups:
    """Identity's project hook: every project's POSIX group number, a ledger row of its
    own taken in the project's transaction, so that it never equals an account's uid or
    gid nor another project's, and stays taken (``released_at``) after the project."""

    def project_created(self, tx: Session, project: models.Project) -> None:
        self.allocate(tx, project.id)

    def project_deleted(self, tx: Session, project: models.Project) -> None:
        tx.execute(sa.update(models.PosixAllocation).where(
            models.PosixAllocation.project_id == project.id,
            models.PosixAllocation.released_at.is_(None)).values(released_at=_now()))

    @staticmethod
    def allocate(tx: Session, project_id: str) -> int:
        """The project's gid, taken now unless it has one."""
        found = ProjectGroups.gid(tx, project_id)
        if found is not None:
            return found
        row = models.PosixAllocation(project_id=project_id, created_at=_now())
        tx.add(row)
        tx.flush()
        return gid_of(row.number)

    @staticmethod
    def gid(tx: Session, project_id: str) -> int | None:
        """The gid of a project (a live one: None once it is deleted)."""
        number = tx.scalar(sa.select(models.PosixAllocation.number).where(
            models.PosixAllocation.project_id == project_id,
            models.PosixAllocation.released_at.is_(None)))
        return None if number is None else gid_of(number)


def key_fingerprint(public_key: str) -> str:
    """The SHA256 fingerprint of an OpenSSH public key line, as ``ssh-keygen -l`` prints
    it without the ``SHA256:`` prefix and in the URL-safe alphabet ('-' and '_')."""
    parts = public_key.split()
    if len(parts) < 2:
        raise BadRequest("An ssh public key is a line 'TYPE BASE64 [COMMENT]'.")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("The ssh public key's data is not base64.") from None
    digest = hashlib.sha256(blob).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def hold_user(tx: Session, user_id: str) -> None:
    """Hold the user's row until `tx` ends (a write: a row lock on MariaDB, the write
    lock on SQLite), so that what counts the user's things and adds one (ssh keys under
    their bound) never runs twice at once for one user."""
    tx.execute(sa.update(models.User).where(models.User.id == user_id)
               .values(id=models.User.id))
