"""Where users and groups live: the identity backend interface.

Projects, roles, assignments and the catalog are always SQL; users, their
passwords and groups come from a backend that Labs can point at SQL (now) or at
the OpenLDAP directory (later), as Keystone splits its identity driver off.

Rules every implementation keeps:
- Lookups of something absent raise ``NotFound`` naming what was looked for.
- A second user or group with the same name in a domain raises ``Conflict``.
- ``tx`` is the request's unit of work; a SQL backend writes through it so a
  failed request leaves nothing behind. A read-only directory raises
  ``Forbidden`` on every write.
- Passwords never leave the backend: it stores a hash and answers
  ``check_password``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class PosixIdentity:
    shell_name: str          # ^[a-z][a-z0-9_-]*$, unique, fixed once set
    uid_number: int
    gid_number: int
    home_directory: str      # /home/<shell_name>
    login_shell: str = "/bin/bash"


@dataclass(frozen=True)
class UserRecord:
    id: str
    name: str
    domain_id: str
    enabled: bool = True
    default_project_id: str | None = None
    password_created_at: datetime | None = None
    #: Free-form attributes a client sent (``email``, ``description``, ``options``).
    extra: dict[str, Any] = field(default_factory=dict)
    #: The user's POSIX account; the identity service always sets it when it creates a user.
    posix: PosixIdentity | None = None


@dataclass(frozen=True)
class GroupRecord:
    id: str
    name: str
    domain_id: str
    description: str = ""


@dataclass(frozen=True)
class UserFilter:
    domain_id: str | None = None
    name: str | None = None
    enabled: bool | None = None
    ids: Sequence[str] | None = None


class IdentityBackend(ABC):
    """Users, passwords, groups and group membership."""

    # -- users ---------------------------------------------------------------
    @abstractmethod
    def create_user(self, tx: Session, user: UserRecord, password: str | None) -> UserRecord:
        """Store a new user (``password`` in clear text, hashed here)."""

    @abstractmethod
    def get_user(self, tx: Session, user_id: str) -> UserRecord:
        """The user with this id, or ``NotFound``."""

    @abstractmethod
    def find_user(self, tx: Session, name: str, domain_id: str) -> UserRecord:
        """The user with this name in this domain, or ``NotFound``."""

    @abstractmethod
    def list_users(self, tx: Session, where: UserFilter) -> list[UserRecord]:
        """Users matching every field set in ``where``, ordered by name."""

    @abstractmethod
    def update_user(self, tx: Session, user_id: str, changes: dict[str, Any]) -> UserRecord:
        """Change ``name``, ``enabled``, ``default_project_id`` or ``extra`` keys."""

    @abstractmethod
    def delete_user(self, tx: Session, user_id: str) -> None:
        """Remove the user and its group memberships, or ``NotFound``."""

    @abstractmethod
    def set_password(self, tx: Session, user_id: str, password: str) -> None:
        """Replace the user's password."""

    @abstractmethod
    def check_password(self, tx: Session, user_id: str, password: str) -> bool:
        """Whether ``password`` is the user's password (False when it has none)."""

    # -- posix accounts and ssh keys -------------------------------------------
    @abstractmethod
    def find_user_by_shell_name(self, tx: Session, shell_name: str) -> UserRecord:
        """The user with this shell name, or ``NotFound``."""

    @abstractmethod
    def list_ssh_keys(self, tx: Session, user_id: str) -> list[str]:
        """The user's ssh public keys, one OpenSSH public key line each."""

    @abstractmethod
    def add_ssh_key(self, tx: Session, user_id: str, public_key: str) -> None:
        """Add a public key line; ``Conflict`` when the user has it already."""

    @abstractmethod
    def remove_ssh_key(self, tx: Session, user_id: str, public_key: str) -> None:
        """Remove a public key line; ``NotFound`` when the user does not have it."""

    @abstractmethod
    def ssh_keys_of(self, tx: Session, user_ids: Sequence[str]) -> dict[str, list[str]]:
        """The keys of each of these users (users without keys may be left out)."""

    # -- groups --------------------------------------------------------------
    @abstractmethod
    def create_group(self, tx: Session, group: GroupRecord) -> GroupRecord: ...

    @abstractmethod
    def get_group(self, tx: Session, group_id: str) -> GroupRecord: ...

    @abstractmethod
    def list_groups(self, tx: Session, domain_id: str | None = None,
                    name: str | None = None) -> list[GroupRecord]: ...

    @abstractmethod
    def update_group(self, tx: Session, group_id: str, changes: dict[str, Any]) -> GroupRecord: ...

    @abstractmethod
    def delete_group(self, tx: Session, group_id: str) -> None: ...

    # -- membership ----------------------------------------------------------
    @abstractmethod
    def add_user_to_group(self, tx: Session, user_id: str, group_id: str) -> None:
        """Idempotent: adding a member twice is not an error."""

    @abstractmethod
    def remove_user_from_group(self, tx: Session, user_id: str, group_id: str) -> None:
        """``NotFound`` when the user is not a member."""

    @abstractmethod
    def is_member(self, tx: Session, user_id: str, group_id: str) -> bool: ...

    @abstractmethod
    def list_group_members(self, tx: Session, group_id: str) -> list[UserRecord]: ...

    @abstractmethod
    def list_user_group_ids(self, tx: Session, user_id: str) -> list[str]: ...

    def list_user_groups(self, tx: Session, user_id: str) -> list[GroupRecord]:
        return [self.get_group(tx, gid) for gid in self.list_user_group_ids(tx, user_id)]
