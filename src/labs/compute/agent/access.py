"""Where an agent's metadata service asks who may log into a VM: the conductor, over the
bus, which answers from identity (labs.identity.access).

A VM's guest polls the access document every two seconds and sshd asks for a user's
keys at each login, so answers are kept for `ttl` seconds per project: a change made in
identity reaches the VM within `ttl` plus the guest's poll. When the conductor does not
answer in `timeout`, a document fetched less than `stale_limit` seconds ago is still
served; an older one never is (a removed member or key must not keep working because
the bus is slow), and the metadata service answers 503 instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from labs.common.bus import BusError
from labs.compute.rpcapi import ConductorAPI
from labs.network.agent.metadata.access import (
    AccessAccount,
    AccessSource,
    AccessUnavailable,
    ProjectAccess,
)
from labs.network.agent.metadata.source import InstanceMetadata
from labs.network.specs import InvalidRequest

log = logging.getLogger("labs.compute.metadata")
#: Projects remembered at most (least recently fetched forgotten first).
MAX_PROJECTS = 4096


def access_of(record: dict[str, Any]) -> ProjectAccess:
    """The conductor's dict as a checked document (InvalidRequest when unusable)."""
    accounts = tuple(AccessAccount(a["shell_name"], a["uid"], a["gid"],
                                   tuple(a.get("ssh_keys") or ()),
                                   a.get("login_shell") or "/bin/bash")
                     for a in record.get("accounts") or ())
    return ProjectAccess(record["project_id"], record["label"], record["gid"], accounts,
                         record.get("sudoers") or "")


class ConductorAccessSource(AccessSource):
    """Asks the conductor, keeping each project's answer for `ttl` seconds."""

    def __init__(self, conductor: ConductorAPI, ttl: float = 1.0, timeout: float = 2.0,
                 stale_limit: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.conductor = conductor
        self.ttl = ttl
        self.timeout = timeout
        self.stale_limit = stale_limit
        self.clock = clock
        self._lock = threading.Lock()
        #: project id -> (when fetched, document or None)
        self._cache: dict[str, tuple[float, ProjectAccess | None]] = {}
        #: project id -> lock, so that concurrent misses of one project ask once
        self._fetching: dict[str, threading.Lock] = {}

    def access_for(self, instance: InstanceMetadata) -> ProjectAccess | None:
        project_id = instance.project_id
        fresh = self._cached(project_id, self.ttl)
        if fresh is not None:
            return fresh[1]
        with self._lock:
            fetching = self._fetching.setdefault(project_id, threading.Lock())
        with fetching:
            fresh = self._cached(project_id, self.ttl)  # another request just fetched it
            if fresh is not None:
                return fresh[1]
            return self._fetch(project_id)

    def _cached(self, project_id: str, age: float) -> tuple[float, ProjectAccess | None] | None:
        with self._lock:
            found = self._cache.get(project_id)
        if found is not None and self.clock() - found[0] < age:
            return found
        return None

    def _fetch(self, project_id: str) -> ProjectAccess | None:
        asked = self.clock()
        try:
            record = self.conductor.project_access(project_id, self.timeout)
        except BusError as exc:
            stale = self._cached(project_id, self.stale_limit)
            if stale is not None:
                log.warning("project %s's accounts: the conductor did not answer (%s); "
                            "serving the document fetched %.1f s ago", project_id, exc,
                            self.clock() - stale[0])
                return stale[1]
            raise AccessUnavailable(f"the conductor did not answer: {exc}") from exc
        access: ProjectAccess | None = None
        if record is not None:
            try:
                access = access_of(record)
            except (InvalidRequest, KeyError, TypeError) as exc:
                log.warning("project %s's accounts are unusable: %s", project_id, exc)
                raise AccessUnavailable(f"unusable access record: {exc}") from exc
        with self._lock:
            self._cache.pop(project_id, None)
            self._cache[project_id] = (asked, access)
            while len(self._cache) > MAX_PROJECTS:
                oldest = next(iter(self._cache))
                del self._cache[oldest]
                self._fetching.pop(oldest, None)
        return access
