"""Users and groups in the SQL database; passwords hashed with bcrypt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import bcrypt
import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import apply_changes, matching, save_unique
from labs.common.errors import BadRequest, Conflict, NotFound
from labs.identity import models
from labs.identity.backends.base import (
    GroupRecord,
    IdentityBackend,
    PosixIdentity,
    UserFilter,
    UserRecord,
)
from labs.identity.posix import key_fingerprint

#: bcrypt only reads this many bytes of a password; Keystone truncates likewise.
BCRYPT_MAX_BYTES = 72


def hash_password(password: str, rounds: int) -> str:
    raw = password.encode()[:BCRYPT_MAX_BYTES]
    return bcrypt.hashpw(raw, bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, hashed: str) -> bool:
    return bcrypt.checkpw(password.encode()[:BCRYPT_MAX_BYTES], hashed.encode())


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _posix(row: models.UserPosix | None) -> PosixIdentity | None:
    if row is None:
        return None
    return PosixIdentity(shell_name=row.shell_name, uid_number=row.uid_number,
                         gid_number=row.gid_number, home_directory=row.home_directory,
                         login_shell=row.login_shell)


def _user(row: models.User, posix: models.UserPosix | None = None) -> UserRecord:
    return UserRecord(id=row.id, name=row.name, domain_id=row.domain_id, enabled=row.enabled,
                      default_project_id=row.default_project_id,
                      password_created_at=row.password_created_at, extra=dict(row.extra or {}),
                      posix=_posix(posix))


#: Users with their posix account (when they have one).
_USERS = cast("sa.Select[Any]", sa.select(models.User, models.UserPosix).outerjoin(
    models.UserPosix, models.UserPosix.user_id == models.User.id))


def _users(tx: Session, query: sa.Select[Any]) -> list[UserRecord]:
    return [_user(user, posix) for user, posix in tx.execute(query)]


def _group(row: models.Group) -> GroupRecord:
    return GroupRecord(id=row.id, name=row.name, domain_id=row.domain_id,
                       description=row.description)


class SqlIdentityBackend(IdentityBackend):
    def __init__(self, password_hash_rounds: int = 12) -> None:
        self.rounds = password_hash_rounds

    # -- users ---------------------------------------------------------------
    def _user_row(self, tx: Session, user_id: str) -> models.User:
        row = tx.get(models.User, user_id)
        if row is None:
            raise NotFound(f"Could not find user: {user_id}.")
        return row

    def create_user(self, tx: Session, user: UserRecord, password: str | None) -> UserRecord:
        row = models.User(id=user.id, name=user.name, domain_id=user.domain_id,
                          enabled=user.enabled, default_project_id=user.default_project_id,
                          extra=dict(user.extra))
        if password is not None:
            row.password_hash = hash_password(password, self.rounds)
            row.password_created_at = _now()
        save_unique(tx, f"user - a user named {user.name!r} exists in the domain", row)
        if user.posix is not None:
            self._set_posix(tx, user.id, user.posix)
        return self.get_user(tx, user.id)

    def get_user(self, tx: Session, user_id: str) -> UserRecord:
        return _user(self._user_row(tx, user_id), tx.get(models.UserPosix, user_id))

    def find_user(self, tx: Session, name: str, domain_id: str) -> UserRecord:
        found = _users(tx, _USERS.where(models.User.name == name,
                                        models.User.domain_id == domain_id))
        if not found:
            raise NotFound(f"Could not find user: {name}.")
        return found[0]

    def list_users(self, tx: Session, where: UserFilter) -> list[UserRecord]:
        query = matching(_USERS.order_by(models.User.name, models.User.id),
                         domain_id=where.domain_id, name=where.name, enabled=where.enabled)
        if where.ids is not None:
            query = query.where(models.User.id.in_(list(where.ids)))
        return _users(tx, query)

    def update_user(self, tx: Session, user_id: str, changes: dict[str, Any]) -> UserRecord:
        """Also takes ``posix``: a user's first account, or a new login shell."""
        row = self._user_row(tx, user_id)
        apply_changes(row, changes, ("name", "enabled", "default_project_id"))
        if "extra" in changes:
            row.extra = {**(row.extra or {}), **changes["extra"]}
        save_unique(tx, f"user - a user named {row.name!r} exists in the domain")
        if changes.get("posix") is not None:
            self._set_posix(tx, user_id, changes["posix"])
        return self.get_user(tx, user_id)

    @staticmethod
    def _set_posix(tx: Session, user_id: str, posix: PosixIdentity) -> None:
        row = tx.get(models.UserPosix, user_id)
        if row is None:
            save_unique(tx, f"posix account - the shell name {posix.shell_name!r} or uid "
                        f"{posix.uid_number} is taken", models.UserPosix(
                            user_id=user_id, shell_name=posix.shell_name,
                            uid_number=posix.uid_number, gid_number=posix.gid_number,
                            home_directory=posix.home_directory,
                            login_shell=posix.login_shell))
            return
        if (row.shell_name, row.uid_number) != (posix.shell_name, posix.uid_number):
            raise BadRequest("shell_name cannot be changed")
        row.gid_number = posix.gid_number
        row.home_directory = posix.home_directory
        row.login_shell = posix.login_shell

    def delete_user(self, tx: Session, user_id: str) -> None:
        row = self._user_row(tx, user_id)
        tx.execute(sa.delete(models.Membership).where(models.Membership.user_id == user_id))
        tx.execute(sa.delete(models.UserPosix).where(models.UserPosix.user_id == user_id))
        tx.execute(sa.delete(models.SshKey).where(models.SshKey.user_id == user_id))
        tx.delete(row)

    def set_password(self, tx: Session, user_id: str, password: str) -> None:
        row = self._user_row(tx, user_id)
        row.password_hash = hash_password(password, self.rounds)
        row.password_created_at = _now()

    def check_password(self, tx: Session, user_id: str, password: str) -> bool:
        row = self._user_row(tx, user_id)
        return row.password_hash is not None and verify_password(password, row.password_hash)

    # -- posix accounts and ssh keys -------------------------------------------
    def find_user_by_shell_name(self, tx: Session, shell_name: str) -> UserRecord:
        found = _users(tx, _USERS.where(models.UserPosix.shell_name == shell_name))
        if not found:
            raise NotFound(f"Could not find a user with the shell name: {shell_name}.")
        return found[0]

    def list_ssh_keys(self, tx: Session, user_id: str) -> list[str]:
        self._user_row(tx, user_id)
        return list(tx.scalars(sa.select(models.SshKey.public_key).where(
            models.SshKey.user_id == user_id).order_by(models.SshKey.created_at,
                                                       models.SshKey.fingerprint)))

    def add_ssh_key(self, tx: Session, user_id: str, public_key: str) -> None:
        self._user_row(tx, user_id)
        fingerprint = key_fingerprint(public_key)
        if tx.get(models.SshKey, (user_id, fingerprint)) is not None:
            raise Conflict(f"The user has this key already (SHA256:{fingerprint}).")
        save_unique(tx, f"ssh key - the user has the key SHA256:{fingerprint}",
                    models.SshKey(user_id=user_id, fingerprint=fingerprint,
                                  public_key=public_key, created_at=_now()))

    def remove_ssh_key(self, tx: Session, user_id: str, public_key: str) -> None:
        self._user_row(tx, user_id)
        row = tx.get(models.SshKey, (user_id, key_fingerprint(public_key)))
        if row is None:
            raise NotFound(f"User {user_id} has no such ssh key.")
        tx.delete(row)

    def ssh_keys_of(self, tx: Session, user_ids: Sequence[str]) -> dict[str, list[str]]:
        keys: dict[str, list[str]] = {}
        if not user_ids:
            return keys
        rows = tx.execute(sa.select(models.SshKey.user_id, models.SshKey.public_key).where(
            models.SshKey.user_id.in_(list(user_ids))).order_by(
            models.SshKey.created_at, models.SshKey.fingerprint))
        for user_id, key in rows:
            keys.setdefault(user_id, []).append(key)
        return keys

    # -- groups --------------------------------------------------------------
    def _group_row(self, tx: Session, group_id: str) -> models.Group:
        row = tx.get(models.Group, group_id)
        if row is None:
            raise NotFound(f"Could not find group: {group_id}.")
        return row

    def create_group(self, tx: Session, group: GroupRecord) -> GroupRecord:
        row = models.Group(id=group.id, name=group.name, domain_id=group.domain_id,
                           description=group.description)
        save_unique(tx, f"group - a group named {group.name!r} exists in the domain", row)
        return _group(row)

    def get_group(self, tx: Session, group_id: str) -> GroupRecord:
        return _group(self._group_row(tx, group_id))

    def list_groups(self, tx: Session, domain_id: str | None = None,
                    name: str | None = None) -> list[GroupRecord]:
        query = matching(sa.select(models.Group).order_by(models.Group.name, models.Group.id),
                         domain_id=domain_id, name=name)
        return [_group(row) for row in tx.scalars(query)]

    def update_group(self, tx: Session, group_id: str, changes: dict[str, Any]) -> GroupRecord:
        row = self._group_row(tx, group_id)
        apply_changes(row, changes, ("name", "description"))
        row.description = row.description or ""  # null clears it
        save_unique(tx, f"group - a group named {row.name!r} exists in the domain")
        return _group(row)

    def delete_group(self, tx: Session, group_id: str) -> None:
        row = self._group_row(tx, group_id)
        tx.execute(sa.delete(models.Membership).where(models.Membership.group_id == group_id))
        tx.delete(row)

    # -- membership ----------------------------------------------------------
    def add_user_to_group(self, tx: Session, user_id: str, group_id: str) -> None:
        self._user_row(tx, user_id)
        self._group_row(tx, group_id)
        if not self.is_member(tx, user_id, group_id):
            tx.add(models.Membership(user_id=user_id, group_id=group_id))
            tx.flush()

    def remove_user_from_group(self, tx: Session, user_id: str, group_id: str) -> None:
        self._user_row(tx, user_id)
        self._group_row(tx, group_id)
        row = tx.get(models.Membership, (user_id, group_id))
        if row is None:
            raise NotFound(f"User {user_id} is not a member of group {group_id}.")
        tx.delete(row)

    def is_member(self, tx: Session, user_id: str, group_id: str) -> bool:
        return tx.get(models.Membership, (user_id, group_id)) is not None

    def list_group_members(self, tx: Session, group_id: str) -> list[UserRecord]:
        self._group_row(tx, group_id)
        return _users(tx, _USERS.join(
            models.Membership, models.Membership.user_id == models.User.id).where(
            models.Membership.group_id == group_id).order_by(models.User.name))

    def list_user_group_ids(self, tx: Session, user_id: str) -> list[str]:
        return list(tx.scalars(sa.select(models.Membership.group_id).where(
            models.Membership.user_id == user_id)))
