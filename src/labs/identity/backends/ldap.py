"""Users, passwords and groups in the OpenLDAP directory; projects and roles stay in SQL.

Layout under the base DN (see ``labs/directory/schema/labs.schema``):

- a user is ``uid=<shell name>,ou=people``: inetOrgPerson, posixAccount,
  shadowAccount, ldapPublicKey and labsUser; ``cn`` and ``sn`` hold the login name,
  ``labsId`` the identity id, ``sshPublicKey`` the keys, ``userPassword`` a
  ``{CRYPT}`` bcrypt hash at identity's cost, so a simple bind by any LDAP client
  (``ldapwhoami -x -D uid=...``) checks the same password;
- an identity group is ``labsId=<id>,ou=identity-groups``, a labsGroup whose
  ``member`` values are user DNs. Project groups (``cn=project-<label>,ou=groups``)
  are posix groups kept elsewhere; the two never share an OU.

SQL keeps, of each user and group, a row holding only its id and domain (its name
column holds the id too): the anchor that application credentials, credentials and
trusts refer to and are deleted with, and that keeps a domain with people from being
deleted. Everything else about a person is in the directory alone.

Names compare exactly (``cn`` matches ignore case in LDAP, so matches are checked
again here). Every write is undone if the request's SQL transaction rolls back: the
undo runs at once, or, while the directory is away, at its next request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE
from ldap3.core import exceptions as ldap_errors
from ldap3.utils.dn import parse_dn
from sqlalchemy.orm import Session

from labs.common.db import save_unique
from labs.common.errors import BadRequest, Conflict, NotFound
from labs.directory.connection import Directory, Entry, all_of, any_of, equals, rdn
from labs.directory.undo import UndoJournal
from labs.identity import models
from labs.identity.backends.anchors import drop_anchor, rename_anchor
from labs.identity.backends.base import GroupRecord, IdentityBackend, UserFilter, UserRecord
from labs.identity.backends.ldap_entries import (
    CHUNK,
    GROUP_ATTRS,
    IS_GROUP,
    IS_USER,
    SHELL_NAME,
    USER_ATTRS,
    crypt_hash,
    crypt_verify,
    group_record,
    ldap_time,
    ordered,
    user_attributes,
    user_changes,
    user_record,
)


class LdapIdentityBackend(IdentityBackend):
    def __init__(self, directory: Directory, password_hash_rounds: int = 12) -> None:
        self.directory = directory
        self.rounds = password_hash_rounds
        base = directory.base_dn
        self.people = f"ou=people,{base}"
        self.groups = f"ou=identity-groups,{base}"
        self._layout_ready = False
        self.undo = UndoJournal(directory)

    def _write(self, tx: Session, step: str, do: Callable[[], None],
               undo: Callable[[], None]) -> None:
        self.undo.write(tx, step, do, undo)

    def _ensure_layout(self) -> None:
        if self._layout_ready:
            return
        for dn, name in ((self.people, "people"), (self.groups, "identity-groups")):
            if self.directory.read(dn, ["ou"]) is None:
                with suppress(ldap_errors.LDAPEntryAlreadyExistsResult):
                    self.directory.add(dn, {"objectClass": ["organizationalUnit"], "ou": name})
        self._layout_ready = True

    # -- users ---------------------------------------------------------------
    def _user_entry(self, user_id: str) -> Entry:
        found = self.directory.search(self.people, all_of(IS_USER, equals("labsId", user_id)),
                                      USER_ATTRS)
        if not found:
            raise NotFound(f"Could not find user: {user_id}.")
        return found[0]

    def _named(self, base: str, kind: str, name: str, domain_id: str,
               attributes: list[str]) -> list[Entry]:
        found = self.directory.search(base, all_of(kind, equals("cn", name),
                                                   equals("labsDomainId", domain_id)),
                                      attributes)
        return [e for e in found if e.first("cn") == name]

    def create_user(self, tx: Session, user: UserRecord, password: str | None) -> UserRecord:
        posix = user.posix
        if posix is None:
            raise BadRequest("A user in the directory needs a POSIX identity (shell name, "
                             "uid and gid numbers).")
        if not SHELL_NAME.match(posix.shell_name):
            raise BadRequest(f"Invalid shell name {posix.shell_name!r}: it must match "
                             f"{SHELL_NAME.pattern}.")
        self._ensure_layout()
        if self._named(self.people, IS_USER, user.name, user.domain_id, ["cn"]):
            raise Conflict(f"Conflict occurred attempting to store user - a user named "
                           f"{user.name!r} exists in the domain: duplicate entry.")
        attributes = user_attributes(user, posix)
        created_at = None
        if password is not None:
            created_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
            attributes["userPassword"] = crypt_hash(password, self.rounds)
            attributes["labsPasswordCreatedAt"] = ldap_time(created_at)
        dn = f"{rdn('uid', posix.shell_name)},{self.people}"
        save_unique(tx, f"user {user.name}", models.User(
            id=user.id, name=user.name, domain_id=user.domain_id, extra={}))
        try:
            self._write(tx, "create user", lambda: self._add(dn, attributes),
                        lambda: self._delete_quietly(dn))
        except ldap_errors.LDAPEntryAlreadyExistsResult:
            raise Conflict(f"Conflict occurred attempting to store user - the shell name "
                           f"{posix.shell_name!r} is taken: duplicate entry.") from None
        return UserRecord(id=user.id, name=user.name, domain_id=user.domain_id,
                          enabled=user.enabled, default_project_id=user.default_project_id,
                          password_created_at=created_at, extra=dict(user.extra), posix=posix)


    def _add(self, dn: str, attributes: dict[str, Any]) -> None:
        try:
            self.directory.add(dn, attributes)
        except ldap_errors.LDAPInvalidAttributeSyntaxResult as exc:
            raise BadRequest(f"The directory cannot hold a value: {exc.description}.") from None

    def _delete_quietly(self, dn: str) -> None:
        with suppress(ldap_errors.LDAPNoSuchObjectResult):
            self.directory.delete(dn)

    def _replace(self, tx: Session, step: str, dn: str, new: dict[str, list[str]],
                 old: dict[str, list[str]]) -> None:
        """Replace attributes (an empty list removes one); undone to ``old``."""
        def change(values: dict[str, list[str]]) -> Callable[[], None]:
            return lambda: self._modify(dn, {k: [(MODIFY_REPLACE, v)]
                                             for k, v in values.items()})
        self._write(tx, step, change(new), change(old))

    def _modify(self, dn: str, changes: dict[str, Any]) -> None:
        try:
            self.directory.modify(dn, changes)
        except ldap_errors.LDAPInvalidAttributeSyntaxResult as exc:
            raise BadRequest(f"The directory cannot hold a value: {exc.description}.") from None

    def get_user(self, tx: Session, user_id: str) -> UserRecord:
        return user_record(self._user_entry(user_id))

    def find_user(self, tx: Session, name: str, domain_id: str) -> UserRecord:
        found = self._named(self.people, IS_USER, name, domain_id, USER_ATTRS)
        if not found:
            raise NotFound(f"Could not find user: {name}.")
        return user_record(found[0])

    def list_users(self, tx: Session, where: UserFilter) -> list[UserRecord]:
        terms = [IS_USER]
        if where.domain_id is not None:
            terms.append(equals("labsDomainId", where.domain_id))
        if where.name is not None:
            terms.append(equals("cn", where.name))
        if where.enabled is not None:
            terms.append(equals("labsEnabled", "TRUE" if where.enabled else "FALSE"))
        if where.ids is None:
            found = self.directory.search(self.people, all_of(*terms), USER_ATTRS)
        else:
            found = self._by_ids(list(where.ids), terms)
        users = ordered(found, user_record)
        return [u for u in users if where.name is None or u.name == where.name]

    def _by_ids(self, ids: list[str], terms: list[str]) -> list[Entry]:
        found: list[Entry] = []
        for start in range(0, len(ids), CHUNK):
            found += self.directory.search(
                self.people, all_of(*terms, any_of("labsId", ids[start:start + CHUNK])),
                USER_ATTRS)
        return found

    def update_user(self, tx: Session, user_id: str, changes: dict[str, Any]) -> UserRecord:
        entry = self._user_entry(user_id)
        current = user_record(entry)
        if "name" in changes and changes["name"] != current.name and self._named(
                self.people, IS_USER, changes["name"], current.domain_id, ["cn"]):
            raise Conflict(f"Conflict occurred attempting to store user - a user named "
                           f"{changes['name']!r} exists in the domain: duplicate entry.")
        if "name" in changes:
            rename_anchor(tx, models.User, user_id, changes["name"], "user")
        new = user_changes(current, changes)
        if new:
            self._replace(tx, "update user", entry.dn, new,
                          {k: entry.attributes.get(k.lower(), []) for k in new})
        return self.get_user(tx, user_id)

    def delete_user(self, tx: Session, user_id: str) -> None:
        entry = self._user_entry(user_id)
        full = self.directory.read(entry.dn, ["*"])
        assert full is not None
        for group in self.directory.search(self.groups, all_of(IS_GROUP, equals(
                "member", entry.dn)), ["labsId"]):
            self._member_change(tx, group.dn, entry.dn, add=False)
        drop_anchor(tx, models.User, user_id)
        self._write(tx, "delete user", lambda: self._delete_quietly(entry.dn),
                    lambda: self.directory.add(entry.dn, full.attributes))

    def set_password(self, tx: Session, user_id: str, password: str) -> None:
        entry = self._user_entry(user_id)
        old = self.directory.read(entry.dn, ["userPassword", "labsPasswordCreatedAt"])
        assert old is not None
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        self._replace(tx, "set password", entry.dn,
                      {"userPassword": [crypt_hash(password, self.rounds)],
                       "labsPasswordCreatedAt": [ldap_time(now)]},
                      {"userPassword": old.attributes.get("userpassword", []),
                       "labsPasswordCreatedAt": old.attributes.get("labspasswordcreatedat", [])})

    def check_password(self, tx: Session, user_id: str, password: str) -> bool:
        entry = self._user_entry(user_id)
        stored = self.directory.read(entry.dn, ["userPassword"])
        return crypt_verify(password, stored.first("userPassword") if stored else None)

    # -- POSIX identity and ssh keys -------------------------------------------
    def find_user_by_shell_name(self, tx: Session, shell_name: str) -> UserRecord:
        found = self.directory.search(self.people, all_of(IS_USER, equals("uid", shell_name)),
                                      USER_ATTRS)
        found = [e for e in found if e.first("uid") == shell_name]
        if not found:
            raise NotFound(f"Could not find user: {shell_name}.")
        return user_record(found[0])

    def _keys(self, dn: str) -> list[str]:
        entry = self.directory.read(dn, ["sshPublicKey"])
        return entry.attributes.get("sshpublickey", []) if entry else []

    def list_ssh_keys(self, tx: Session, user_id: str) -> list[str]:
        return self._keys(self._user_entry(user_id).dn)

    def add_ssh_key(self, tx: Session, user_id: str, public_key: str) -> None:
        dn = self._user_entry(user_id).dn
        if public_key in self._keys(dn):
            raise Conflict("The user has this ssh key already.")
        self._write(tx, "add ssh key",
                    lambda: self._modify(dn, {"sshPublicKey": [(MODIFY_ADD, [public_key])]}),
                    lambda: self._modify(dn, {"sshPublicKey": [(MODIFY_DELETE, [public_key])]}))

    def remove_ssh_key(self, tx: Session, user_id: str, public_key: str) -> None:
        dn = self._user_entry(user_id).dn
        if public_key not in self._keys(dn):
            raise NotFound(f"User {user_id} has no such ssh key.")
        self._write(tx, "remove ssh key",
                    lambda: self._modify(dn, {"sshPublicKey": [(MODIFY_DELETE, [public_key])]}),
                    lambda: self._modify(dn, {"sshPublicKey": [(MODIFY_ADD, [public_key])]}))

    def ssh_keys_of(self, tx: Session, user_ids: Sequence[str]) -> dict[str, list[str]]:
        ids = list(user_ids)
        keys: dict[str, list[str]] = {}
        for start in range(0, len(ids), CHUNK):
            for entry in self.directory.search(self.people, all_of(IS_USER, any_of(
                    "labsId", ids[start:start + CHUNK])), ["labsId", "sshPublicKey"]):
                keys[entry.first("labsId") or ""] = entry.attributes.get("sshpublickey", [])
        return keys

    # -- groups --------------------------------------------------------------
    def _group_entry(self, group_id: str) -> Entry:
        found = self.directory.search(self.groups, all_of(IS_GROUP, equals("labsId", group_id)),
                                      [*GROUP_ATTRS, "member"])
        if not found:
            raise NotFound(f"Could not find group: {group_id}.")
        return found[0]

    def create_group(self, tx: Session, group: GroupRecord) -> GroupRecord:
        self._ensure_layout()
        if self._named(self.groups, IS_GROUP, group.name, group.domain_id, ["cn"]):
            raise Conflict(f"Conflict occurred attempting to store group - a group named "
                           f"{group.name!r} exists in the domain: duplicate entry.")
        attributes: dict[str, Any] = {"objectClass": ["labsGroup"], "labsId": group.id,
                                      "labsDomainId": group.domain_id, "cn": group.name}
        if group.description:
            attributes["description"] = group.description
        dn = f"{rdn('labsId', group.id)},{self.groups}"
        save_unique(tx, f"group {group.name}", models.Group(
            id=group.id, name=group.name, domain_id=group.domain_id, description=""))
        try:
            self._write(tx, "create group", lambda: self._add(dn, attributes),
                        lambda: self._delete_quietly(dn))
        except ldap_errors.LDAPEntryAlreadyExistsResult:
            raise Conflict(f"Conflict occurred attempting to store group {group.id}: "
                           "duplicate entry.") from None
        return group

    def get_group(self, tx: Session, group_id: str) -> GroupRecord:
        return group_record(self._group_entry(group_id))

    def list_groups(self, tx: Session, domain_id: str | None = None,
                    name: str | None = None) -> list[GroupRecord]:
        terms = [IS_GROUP]
        if domain_id is not None:
            terms.append(equals("labsDomainId", domain_id))
        if name is not None:
            terms.append(equals("cn", name))
        groups = ordered(self.directory.search(self.groups, all_of(*terms), GROUP_ATTRS),
                          group_record)
        return [g for g in groups if name is None or g.name == name]

    def update_group(self, tx: Session, group_id: str, changes: dict[str, Any]) -> GroupRecord:
        entry = self._group_entry(group_id)
        current = group_record(entry)
        new: dict[str, list[str]] = {}
        if "name" in changes and changes["name"] != current.name:
            if self._named(self.groups, IS_GROUP, changes["name"], current.domain_id, ["cn"]):
                raise Conflict(f"Conflict occurred attempting to store group - a group named "
                               f"{changes['name']!r} exists in the domain: duplicate entry.")
            rename_anchor(tx, models.Group, group_id, changes["name"], "group")
            new["cn"] = [changes["name"]]
        if "description" in changes:
            new["description"] = [changes["description"]] if changes["description"] else []
        if new:
            old = {"cn": [current.name],
                   "description": [current.description] if current.description else []}
            self._replace(tx, "update group", entry.dn, new, {k: old[k] for k in new})
        return self.get_group(tx, group_id)

    def delete_group(self, tx: Session, group_id: str) -> None:
        entry = self._group_entry(group_id)
        full = self.directory.read(entry.dn, ["*"])
        assert full is not None
        drop_anchor(tx, models.Group, group_id)
        self._write(tx, "delete group", lambda: self._delete_quietly(entry.dn),
                    lambda: self.directory.add(entry.dn, full.attributes))

    # -- membership ----------------------------------------------------------
    def _member_change(self, tx: Session, group_dn: str, user_dn: str, add: bool) -> None:
        def change(adding: bool) -> Callable[[], None]:
            def run() -> None:
                with suppress(ldap_errors.LDAPAttributeOrValueExistsResult,
                              ldap_errors.LDAPNoSuchAttributeResult):  # already as wanted
                    self.directory.modify(group_dn, {"member": [
                        (MODIFY_ADD if adding else MODIFY_DELETE, [user_dn])]})
            return run
        self._write(tx, "add member" if add else "remove member", change(add), change(not add))

    @staticmethod
    def _has(group: Entry, user_dn: str) -> bool:
        wanted = parse_dn(user_dn.lower())
        return any(parse_dn(m.lower()) == wanted for m in group.attributes.get("member", []))

    def add_user_to_group(self, tx: Session, user_id: str, group_id: str) -> None:
        user_dn = self._user_entry(user_id).dn
        group = self._group_entry(group_id)
        if not self._has(group, user_dn):
            self._member_change(tx, group.dn, user_dn, add=True)

    def remove_user_from_group(self, tx: Session, user_id: str, group_id: str) -> None:
        user_dn = self._user_entry(user_id).dn
        group = self._group_entry(group_id)
        if not self._has(group, user_dn):
            raise NotFound(f"User {user_id} is not a member of group {group_id}.")
        self._member_change(tx, group.dn, user_dn, add=False)

    def is_member(self, tx: Session, user_id: str, group_id: str) -> bool:
        try:
            return self._has(self._group_entry(group_id), self._user_entry(user_id).dn)
        except NotFound:
            return False

    def list_group_members(self, tx: Session, group_id: str) -> list[UserRecord]:
        members = self._group_entry(group_id).attributes.get("member", [])
        uids = [parse_dn(dn)[0][1] for dn in members if dn.lower().endswith(
            self.people.lower())]
        found: list[Entry] = []
        for start in range(0, len(uids), CHUNK):
            found += self.directory.search(self.people, all_of(IS_USER, any_of(
                "uid", uids[start:start + CHUNK])), USER_ATTRS)
        return ordered(found, user_record)

    def list_user_group_ids(self, tx: Session, user_id: str) -> list[str]:
        user_dn = self._user_entry(user_id).dn
        return [e.first("labsId") or "" for e in self.directory.search(
            self.groups, all_of(IS_GROUP, equals("member", user_dn)), ["labsId"])]
