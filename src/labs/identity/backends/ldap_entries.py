"""How identity users and groups look as directory entries (see ``ldap.py``).

Passwords are ``{CRYPT}`` + a bcrypt hash: slapd checks a simple bind with the
system's crypt(3), which knows bcrypt (``$2b$``), so ``ldapwhoami`` accepts the
password identity does, hashed at identity's cost. bcrypt reads 72 bytes, here and
in crypt(3).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import bcrypt

from labs.common.errors import BadRequest
from labs.directory.connection import Entry
from labs.identity.backends.base import GroupRecord, PosixIdentity, UserRecord

BCRYPT_MAX_BYTES = 72
SHELL_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
USER_CLASSES = ["inetOrgPerson", "posixAccount", "shadowAccount", "ldapPublicKey", "labsUser"]
USER_ATTRS = ["uid", "cn", "sn", "labsId", "labsDomainId", "labsEnabled", "labsDefaultProjectId",
              "labsExtra", "labsPasswordCreatedAt", "uidNumber", "gidNumber",
              "homeDirectory", "loginShell"]
GROUP_ATTRS = ["labsId", "labsDomainId", "cn", "description"]
IS_USER = "(objectClass=labsUser)"
IS_GROUP = "(objectClass=labsGroup)"
#: Users looked up per search when a list of ids is asked for.
CHUNK = 200


def crypt_hash(password: str, rounds: int) -> str:
    raw = password.encode()[:BCRYPT_MAX_BYTES]
    return "{CRYPT}" + bcrypt.hashpw(raw, bcrypt.gensalt(rounds)).decode()


def crypt_verify(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("{CRYPT}$2"):
        return False
    return bcrypt.checkpw(password.encode()[:BCRYPT_MAX_BYTES], stored[7:].encode())


def ldap_time(value: datetime) -> str:
    return value.strftime("%Y%m%d%H%M%SZ")


def parse_time(value: str | None) -> datetime | None:
    return datetime.strptime(value, "%Y%m%d%H%M%SZ") if value else None


def user_record(entry: Entry) -> UserRecord:
    posix = PosixIdentity(
        shell_name=entry.first("uid") or "", uid_number=int(entry.first("uidNumber") or 0),
        gid_number=int(entry.first("gidNumber") or 0),
        home_directory=entry.first("homeDirectory") or "",
        login_shell=entry.first("loginShell") or "/bin/bash")
    return UserRecord(
        id=entry.first("labsId") or "", name=entry.first("cn") or "",
        domain_id=entry.first("labsDomainId") or "",
        enabled=entry.first("labsEnabled", "TRUE") == "TRUE",
        default_project_id=entry.first("labsDefaultProjectId"),
        password_created_at=parse_time(entry.first("labsPasswordCreatedAt")),
        extra=json.loads(entry.first("labsExtra") or "{}"), posix=posix)


def group_record(entry: Entry) -> GroupRecord:
    return GroupRecord(id=entry.first("labsId") or "", name=entry.first("cn") or "",
                       domain_id=entry.first("labsDomainId") or "",
                       description=entry.first("description") or "")


def ordered(entries: list[Entry], make: Callable[[Entry], Any]) -> list[Any]:
    return sorted((make(e) for e in entries), key=lambda r: (r.name, r.id))


def user_attributes(user: UserRecord, posix: PosixIdentity) -> dict[str, Any]:
    """A new user's entry, without its password."""
    attributes: dict[str, Any] = {
        "objectClass": USER_CLASSES, "uid": posix.shell_name, "cn": user.name,
        "sn": user.name, "labsId": user.id, "labsDomainId": user.domain_id,
        "labsEnabled": "TRUE" if user.enabled else "FALSE",
        "uidNumber": str(posix.uid_number), "gidNumber": str(posix.gid_number),
        "homeDirectory": posix.home_directory, "loginShell": posix.login_shell}
    if user.default_project_id:
        attributes["labsDefaultProjectId"] = user.default_project_id
    if user.extra:
        attributes["labsExtra"] = json.dumps(user.extra, sort_keys=True)
    return attributes


def user_changes(current: UserRecord, changes: dict[str, Any]) -> dict[str, list[str]]:
    """The attributes ``changes`` replaces (an empty list removes one). ``posix`` gives a
    new login shell, gid or home; the shell name and uid stay as they are."""
    new: dict[str, list[str]] = {}
    if "name" in changes and changes["name"] != current.name:
        new["cn"] = new["sn"] = [changes["name"]]
    if "enabled" in changes:
        new["labsEnabled"] = ["TRUE" if changes["enabled"] else "FALSE"]
    if "default_project_id" in changes:
        project = changes["default_project_id"]
        new["labsDefaultProjectId"] = [project] if project else []
    if "extra" in changes:
        extra = {**current.extra, **changes["extra"]}
        new["labsExtra"] = [json.dumps(extra, sort_keys=True)] if extra else []
    posix: PosixIdentity | None = changes.get("posix")
    if posix is not None:
        if current.posix is None or (current.posix.shell_name, current.posix.uid_number) != (
                posix.shell_name, posix.uid_number):
            raise BadRequest("shell_name cannot be changed")
        new.update(gidNumber=[str(posix.gid_number)], homeDirectory=[posix.home_directory],
                   loginShell=[posix.login_shell])
    return new
