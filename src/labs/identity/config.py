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
    credential_key_repository: str = option(
        "", "directory of the Fernet keys encrypting credential blobs; empty: "
        "<data-dir>/credential-keys")
    token_cache_size: int = option(10000, "validated tokens remembered per process")
    default_domain_id: str = option("default", "domain of users and projects given by name")
    lockout_failure_attempts: int = option(
        6, "failed password checks in a row that lock a user (Keystone's [security_compliance] "
        "option; 0: never lock)")
    lockout_duration: int = option(
        1800, "seconds a locked user stays locked after the last failure (0: until an admin "
        "sets enabled: true)")
    password_check_concurrency: int = option(
        0, "bcrypt checks running at once per process, at a low CPU priority; 0: one "
        "per CPU")
    password_check_queue: int = option(
        24, "password checks that may wait for their turn per process; more get 503 at once")
