"""Identity options (section ``[identity]`` of labs.conf, or ``LABS_IDENTITY_*``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from labs.common.config import option


@dataclass(frozen=True)
class IdentityOptions:
    section: ClassVar[str] = "identity"
    token_expiration: int = option(3600, "seconds a token stays valid")
    password_hash_rounds: int = option(12, "bcrypt cost (Keystone's default is 12)")
    max_password_length: int = option(4096, "longest password accepted, in characters")
    key_repository: str = option("", "directory of Fernet keys; empty: <data-dir>/fernet-keys")
    max_active_keys: int = option(3, "Fernet keys kept: primary, staged and secondaries")
    token_cache_size: int = option(10000, "validated tokens remembered per process")
    default_domain_id: str = option("default", "domain of users and projects given by name")
