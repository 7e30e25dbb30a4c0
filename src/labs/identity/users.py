"""Users and groups: the identity backend, plus what a change means for tokens."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from labs.common.errors import BadRequest, NotFound, Unauthorized
from labs.identity import models
from labs.identity.backends.base import GroupRecord, IdentityBackend, UserFilter, UserRecord
from labs.identity.lockout import Lockout
from labs.identity.membership import MembershipWatch
from labs.identity.passwords import PasswordChecks
from labs.identity.posix import PosixLedger, retry_contention
from labs.identity.resources import get_row, new_id, revoke
from labs.identity.store import IdentityStore

USER_FIELDS = ("name", "enabled", "default_project_id")


class UserService:
    def __init__(self, store: IdentityStore, backend: IdentityBackend, token_lifetime: int,
                 max_password_length: int, passwords: PasswordChecks,
                 lockout: Lockout, membership: MembershipWatch | None = None) -> None:
        self.store = store
        self.backend = backend
        self.lifetime = token_lifetime
        self.max_password_length = max_password_length
        self.passwords = passwords
        self.lockout = lockout
        self.ledger = PosixLedger()
        self.membership = membership or MembershipWatch()

    def check_password(self, user_id: str, password: str) -> bool:
        """Whether ``password`` is the user's: counted by the lockout, checked in the pool.

        False without a check while the user is locked out.
        """
        def check() -> bool:
            # in the pool: a login waiting for its check holds no database connection
            with self.store.read() as tx:
                return self.backend.check_password(tx, user_id, password)
        return self.lockout.check(user_id, lambda: self.passwords.run(check))

    def _check_password_length(self, password: str) -> None:
        if len(password) > self.max_password_length:
            raise BadRequest(f"Password is longer than {self.max_password_length} characters.")

    # -- users ---------------------------------------------------------------
    def create_user(self, fields: dict[str, Any], default_domain_id: str) -> UserRecord:
        password = fields.get("password")
        if password is not None:
            self._check_password_length(password)
        extra = {k: v for k, v in fields.items()
                 if k not in (*USER_FIELDS, "password", "domain_id", "id", "shell_name")}
        domain_id = fields.get("domain_id") or default_domain_id

        def create() -> UserRecord:
            with self.store.write() as tx:
                get_row(tx, models.Domain, domain_id, "domain")
                user_id = new_id()
                # the account first, in this transaction: a refused shell name makes no
                # user, a failed creation leaves no account
                posix = self.ledger.allocate(tx, user_id, fields["name"],
                                             fields.get("shell_name"))
                record = UserRecord(id=user_id, name=fields["name"], domain_id=domain_id,
                                    enabled=fields.get("enabled", True),
                                    default_project_id=fields.get("default_project_id"),
                                    extra=extra, posix=posix)
                return self.backend.create_user(tx, record, password)
        return retry_contention(create)

    def ensure_posix_accounts(self) -> int:
        """Give an account to every user without one (users made before accounts
        existed, or by hand in the directory); returns how many it gave."""
        with self.store.read() as tx:
            missing = [u for u in self.backend.list_users(tx, UserFilter()) if u.posix is None]
        for user in missing:
            with self.store.write() as tx:
                posix = self.ledger.allocate(tx, user.id, user.name)
                self.backend.update_user(tx, user.id, {"posix": posix})
        return len(missing)

    def set_login_shell(self, user_id: str, login_shell: str) -> UserRecord:
        with self.store.write() as tx:
            posix = self.backend.get_user(tx, user_id).posix
            if posix is None:
                raise NotFound(f"User {user_id} has no POSIX account.")
            return self.backend.update_user(tx, user_id, {"posix": replace(
                posix, login_shell=login_shell)})

    def find_user_by_shell_name(self, shell_name: str) -> UserRecord:
        with self.store.read() as tx:
            return self.backend.find_user_by_shell_name(tx, shell_name)

    def get_user(self, user_id: str) -> UserRecord:
        with self.store.read() as tx:
            return self.backend.get_user(tx, user_id)

    def list_users(self, where: UserFilter) -> list[UserRecord]:
        with self.store.read() as tx:
            return self.backend.list_users(tx, where)

    def update_user(self, user_id: str, fields: dict[str, Any]) -> UserRecord:
        if "domain_id" in fields:
            raise BadRequest("The domain of a user cannot be changed.")
        if "shell_name" in fields:
            raise BadRequest("shell_name cannot be changed")
        password = fields.get("password")
        if password is not None:
            self._check_password_length(password)
        changes: dict[str, Any] = {k: fields[k] for k in USER_FIELDS if k in fields}
        extra = {k: v for k, v in fields.items() if k not in (*USER_FIELDS, "password", "id")}
        if extra:
            changes["extra"] = extra
        with self.store.write() as tx:
            user = self.backend.update_user(tx, user_id, changes)
            if "enabled" in changes:
                self.membership.users_changed(tx, [user_id])
            if password is not None:
                self.backend.set_password(tx, user_id, password)
            if password is not None or fields.get("enabled") is False:
                revoke(tx, self.lifetime, user_id=user_id)
            if fields.get("enabled") is True:
                # an admin unlocks a locked-out user by enabling them (as Keystone)
                tx.execute(sa.delete(models.LoginFailure).where(
                    models.LoginFailure.user_id == user_id))
            return user

    def change_password(self, user_id: str, original: str, password: str) -> None:
        """A user changes their own password; the old one must be right."""
        self._check_password_length(password)
        if not self.check_password(user_id, original):
            raise Unauthorized("The original password you gave is not correct.")
        def change() -> None:
            with self.store.write() as tx:
                self.backend.set_password(tx, user_id, password)
                revoke(tx, self.lifetime, user_id=user_id)
        self.passwords.run(change)

    def delete_user(self, user_id: str) -> None:
        with self.store.write() as tx:
            self.membership.users_changed(tx, [user_id])  # its projects, before it goes
            self.backend.delete_user(tx, user_id)
            self.ledger.release(tx, user_id)
            tx.execute(sa.delete(models.Assignment).where(
                models.Assignment.actor_type == models.ACTOR_USER,
                models.Assignment.actor_id == user_id))
            tx.execute(sa.delete(models.ApplicationCredential).where(
                models.ApplicationCredential.user_id == user_id))
            tx.execute(sa.delete(models.LoginFailure).where(
                models.LoginFailure.user_id == user_id))
            revoke(tx, self.lifetime, user_id=user_id)

    # -- groups --------------------------------------------------------------
    def create_group(self, fields: dict[str, Any], default_domain_id: str) -> GroupRecord:
        with self.store.write() as tx:
            domain_id = fields.get("domain_id") or default_domain_id
            get_row(tx, models.Domain, domain_id, "domain")
            return self.backend.create_group(tx, GroupRecord(
                id=new_id(), name=fields["name"], domain_id=domain_id,
                description=fields.get("description") or ""))

    def get_group(self, group_id: str) -> GroupRecord:
        with self.store.read() as tx:
            return self.backend.get_group(tx, group_id)

    def list_groups(self, domain_id: str | None = None,
                    name: str | None = None) -> list[GroupRecord]:
        with self.store.read() as tx:
            return self.backend.list_groups(tx, domain_id, name)

    def update_group(self, group_id: str, fields: dict[str, Any]) -> GroupRecord:
        with self.store.write() as tx:
            return self.backend.update_group(tx, group_id, fields)

    def delete_group(self, group_id: str) -> None:
        with self.store.write() as tx:
            self.membership.groups_changed(tx, [group_id])
            self.backend.delete_group(tx, group_id)
            tx.execute(sa.delete(models.Assignment).where(
                models.Assignment.actor_type == models.ACTOR_GROUP,
                models.Assignment.actor_id == group_id))

    def add_user_to_group(self, user_id: str, group_id: str) -> None:
        with self.store.write() as tx:
            self.backend.add_user_to_group(tx, user_id, group_id)
            self.membership.groups_changed(tx, [group_id])

    def remove_user_from_group(self, user_id: str, group_id: str) -> None:
        with self.store.write() as tx:
            self.backend.remove_user_from_group(tx, user_id, group_id)
            self.membership.groups_changed(tx, [group_id])

    def check_user_in_group(self, user_id: str, group_id: str) -> None:
        with self.store.read() as tx:
            self.backend.get_user(tx, user_id)
            self.backend.get_group(tx, group_id)
            if not self.backend.is_member(tx, user_id, group_id):
                raise NotFound(f"User {user_id} is not a member of group {group_id}.")

    def list_group_members(self, group_id: str) -> list[UserRecord]:
        with self.store.read() as tx:
            return self.backend.list_group_members(tx, group_id)

    def list_user_groups(self, user_id: str) -> list[GroupRecord]:
        with self.store.read() as tx:
            self.backend.get_user(tx, user_id)
            return self.backend.list_user_groups(tx, user_id)
