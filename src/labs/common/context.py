"""Who is asking: the request context every service's handlers and policy see."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from labs.common.access_rules import AccessRule


@dataclass(frozen=True)
class RequestContext:
    """The authenticated caller of one request, taken from a validated token."""

    user_id: str
    user_name: str = ""
    user_domain_id: str = ""
    project_id: str | None = None
    project_name: str | None = None
    #: The project's DNS label (its name where a name must be a label: FQDNs, groups).
    project_label: str | None = None
    project_domain_id: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None
    system_scope: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)
    token: str = ""
    audit_id: str = ""
    application_credential_id: str | None = None
    request_id: str = ""
    #: The identity revision the token was checked at, so that one request can check a
    #: second token without reading it again.
    revision: int | None = None
    #: A token from an application credential with access rules: the only calls it may make.
    access_rules: tuple[AccessRule, ...] | None = None

    @property
    def is_admin(self) -> bool:
        """Cloud-wide admin: the ``admin`` role in any scope (as Keystone treats it)."""
        return "admin" in self.roles

    @property
    def scope(self) -> str:
        if self.system_scope:
            return "system"
        if self.project_id:
            return "project"
        if self.domain_id:
            return "domain"
        return "unscoped"


class Authenticator(ABC):
    """Turns a token into a context; shared by every service's HTTP layer."""

    @abstractmethod
    def authenticate(self, token: str) -> RequestContext:
        """Validate ``token``; raise ``Unauthorized`` when it is bad, expired or revoked."""
