"""Who gets into a VM: the access document of the instance's project, and where the
metadata service asks for it.

A VM asks ``/labs/v1/access.json`` (labs.network.agent.metadata.access_http) for the
accounts of its project: shell name, uid and gid, login shell and ssh keys of every
member who may log in, the project's group and its sudoers(5) rules. The guest keeps its
users, groups, keys and sudo rules in step with it, so a VM needs no directory
credentials and no route to the directory.

An `AccessSource` turns an instance (as the `MetadataSource` found it) into its
project's `ProjectAccess`; `StaticAccessSource` holds documents in memory (tests, a
single host) and may be changed while a server reads it. The cloud's source fills the
document from the identity and accounts services. A disabled account, or a member
without a shell account, is simply left out: the guest then empties its keys.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from labs.network.agent.metadata.source import InstanceMetadata
from labs.network.specs import InvalidRequest

#: A POSIX login name as Labs gives shell names: lower case, at most 32 characters.
SHELL_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
#: The project label in the group name ``project-<label>``: identity's labels are DNS
#: labels (at most 63 characters). Group names have no 32-character bound in the group
#: file, glibc or sudo; only useradd/groupadd keep one, and the image does not use them.
PROJECT_LABEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
#: One OpenSSH public key, without options: type, base64 blob, optional comment.
SSH_KEY = re.compile(r"(ssh|ecdsa|sk)-[A-Za-z0-9@.-]{1,64} [A-Za-z0-9+/]+={0,3}"
                     r"( [\x20-\x7e]{1,1000})?")
LOGIN_SHELL = re.compile(r"(/[A-Za-z0-9_.-]+)+")
MAX_ID = 2**32 - 2  # (uid_t)-1 means "no change" to chown
MAX_SUDOERS = 64 * 1024
GROUP_PREFIX = "project-"


def check_shell_name(name: str) -> str:
    """`name` when it is a shell name, else InvalidRequest."""
    if not isinstance(name, str) or not SHELL_NAME.fullmatch(name):
        raise InvalidRequest(f"bad shell name {name!r}: lower-case letters, digits, '_' "
                             "and '-', starting with a letter or '_', at most 32")
    return name


def _check_id(kind: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise InvalidRequest(f"bad {kind} {value!r}: an integer from 1 to {MAX_ID}")


@dataclass(frozen=True)
class AccessAccount:
    """One member who may log in: `gid` is the account's own group (named after it);
    `ssh_keys` are OpenSSH public key lines without options. Home: /home/<shell_name>."""

    shell_name: str
    uid: int
    gid: int
    ssh_keys: tuple[str, ...] = ()
    login_shell: str = "/bin/bash"

    def __post_init__(self) -> None:
        check_shell_name(self.shell_name)
        _check_id("uid", self.uid)
        _check_id("gid", self.gid)
        object.__setattr__(self, "ssh_keys", tuple(self.ssh_keys))
        for key in self.ssh_keys:
            if not isinstance(key, str) or not SSH_KEY.fullmatch(key):
                raise InvalidRequest(f"account {self.shell_name}: bad ssh key "
                                     f"{str(key)[:40]!r}...")
        if (not isinstance(self.login_shell, str) or not LOGIN_SHELL.fullmatch(
                self.login_shell) or "/../" in self.login_shell + "/"):
            raise InvalidRequest(f"account {self.shell_name}: bad login shell "
                                 f"{self.login_shell!r}")

    @property
    def home(self) -> str:
        return f"/home/{self.shell_name}"


@dataclass(frozen=True)
class ProjectAccess:
    """The access document of one project: its group ``project-<label>`` with `gid`
    (every account is a member), the accounts that may log in, and the project's sudo
    rules as sudoers(5) text (empty: none)."""

    project_id: str
    label: str
    gid: int
    accounts: tuple[AccessAccount, ...] = ()
    sudoers: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.project_id, str) or not re.fullmatch(r"[A-Za-z0-9-]{1,64}",
                                                                    self.project_id):
            raise InvalidRequest(f"bad project id {self.project_id!r}")
        if not isinstance(self.label, str) or not PROJECT_LABEL.fullmatch(self.label):
            raise InvalidRequest(f"bad project label {self.label!r}: lower-case letters, "
                                 "digits, '_' and '-', at most 63")
        _check_id("project gid", self.gid)
        accounts = tuple(sorted(self.accounts, key=lambda a: a.shell_name))
        names = [a.shell_name for a in accounts]
        if len(set(names)) != len(names):
            raise InvalidRequest(f"project {self.label}: a shell name appears twice")
        if len({a.uid for a in accounts}) != len(accounts):
            raise InvalidRequest(f"project {self.label}: a uid appears twice")
        object.__setattr__(self, "accounts", accounts)
        if (not isinstance(self.sudoers, str) or "\0" in self.sudoers
                or len(self.sudoers.encode()) > MAX_SUDOERS):
            raise InvalidRequest(f"project {self.label}: bad sudoers text")

    @property
    def group_name(self) -> str:
        return GROUP_PREFIX + self.label

    def account(self, shell_name: str) -> AccessAccount | None:
        return next((a for a in self.accounts if a.shell_name == shell_name), None)

    def document(self) -> dict[str, Any]:
        """The JSON document served at /labs/v1/access.json, `serial` included: a digest
        of everything else, so it changes exactly when something in it changes."""
        doc: dict[str, Any] = {
            "version": 1,
            "project": {"id": self.project_id, "label": self.label,
                        "group": {"name": self.group_name, "gid": self.gid}},
            "accounts": [{"shell_name": a.shell_name, "uid": a.uid, "gid": a.gid,
                          "home": a.home, "login_shell": a.login_shell,
                          "ssh_keys": list(a.ssh_keys)} for a in self.accounts],
            "sudoers": self.sudoers,
        }
        canonical = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        doc["serial"] = hashlib.sha256(canonical).hexdigest()[:32]
        return doc


class AccessUnavailable(Exception):
    """The source cannot tell now (its backend does not answer): the server answers 503
    and the guest keeps what it has."""


class AccessSource(ABC):
    """Finds the access document of an instance's project."""

    @abstractmethod
    def access_for(self, instance: InstanceMetadata) -> ProjectAccess | None:
        """The access document of `instance.project_id`, or None when the source knows
        no such project. Never another project's document (the server checks the
        project id again and answers 404 if it differs). A project without members
        gets a document without accounts, not None: the guest acts only on documents."""


class StaticAccessSource(AccessSource):
    """Documents held in memory, by project id; safe to change while a server reads
    them."""

    def __init__(self, projects: Iterable[ProjectAccess] = ()) -> None:
        self._lock = threading.Lock()
        self._by_project: dict[str, ProjectAccess] = {}
        for access in projects:
            self.set(access)

    def set(self, access: ProjectAccess) -> None:
        """Add or replace the project's document."""
        with self._lock:
            self._by_project[access.project_id] = access

    def remove(self, project_id: str) -> None:
        """Forget the project; a missing one is fine."""
        with self._lock:
            self._by_project.pop(project_id, None)

    def access_for(self, instance: InstanceMetadata) -> ProjectAccess | None:
        with self._lock:
            return self._by_project.get(instance.project_id)
