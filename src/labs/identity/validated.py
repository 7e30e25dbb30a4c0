"""A validated token and what it stands for, and the cache of validated tokens."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from labs.common.access_rules import AccessRule
from labs.common.context import RequestContext
from labs.identity import models
from labs.identity.backends.base import UserRecord
from labs.identity.catalog import CatalogEntry
from labs.identity.tokens import TokenPayload


@dataclass(frozen=True)
class ValidatedToken:
    """A token and everything it stands for, as the token API renders it."""

    token: str
    payload: TokenPayload
    user: UserRecord
    user_domain: models.Domain
    roles: tuple[tuple[str, str], ...] = ()
    project: models.Project | None = None
    project_domain: models.Domain | None = None
    domain: models.Domain | None = None
    catalog: tuple[CatalogEntry, ...] = ()
    application_credential: models.ApplicationCredential | None = None
    trust: models.Trust | None = None
    #: The credential's access rules; None when it has none (no restriction).
    access_rules: tuple[AccessRule, ...] | None = None
    revision: int = 0
    context: RequestContext = field(init=False)

    def __post_init__(self) -> None:
        p = self.payload
        object.__setattr__(self, "context", RequestContext(
            user_id=self.user.id, user_name=self.user.name, user_domain_id=self.user.domain_id,
            project_id=p.project_id, project_name=self.project.name if self.project else None,
            project_label=self.project.label if self.project else None,
            project_domain_id=self.project.domain_id if self.project else None,
            domain_id=p.domain_id, domain_name=self.domain.name if self.domain else None,
            system_scope=p.system, roles=frozenset(name for _id, name in self.roles),
            token=self.token, audit_id=p.audit_id,
            application_credential_id=p.application_credential_id, revision=self.revision,
            access_rules=self.access_rules))


@dataclass(frozen=True)
class Scope:
    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False

    @property
    def empty(self) -> bool:
        return not (self.project_id or self.domain_id or self.system)


class TokenCache:
    """Validated tokens by token string, at most ``size`` of them (LRU)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, ValidatedToken] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str, revision: int) -> ValidatedToken | None:
        with self._lock:
            found = self._items.get(token)
            if found is None or found.revision != revision:
                return None
            self._items.move_to_end(token)
            return found

    def put(self, item: ValidatedToken) -> None:
        with self._lock:
            self._items[item.token] = item
            self._items.move_to_end(item.token)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
