"""Fernet tokens: authenticated, encrypted, verifiable without the database.

The key repository is a directory of numbered key files, as Keystone keeps
it: the highest number is the primary key (new tokens), ``0`` is the staged
key (the next primary), the rest are secondary keys still accepted. Rotating
promotes the staged key, stages a new one and drops the oldest beyond
``max_active_keys``; tokens made with a dropped key stop validating.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from labs.common.errors import Unauthorized

# Methods are sent as a bit mask to keep tokens short.
METHODS = ("password", "token", "application_credential", "ec2credential")


@dataclass(frozen=True)
class TokenPayload:
    """What a token says; everything else (names, roles, catalog) is looked up."""

    user_id: str
    methods: tuple[str, ...]
    expires_at: datetime
    issued_at: datetime
    audit_ids: tuple[str, ...]
    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    application_credential_id: str | None = None
    trust_id: str | None = None

    @property
    def audit_id(self) -> str:
        return self.audit_ids[0]

    @property
    def parent_audit_id(self) -> str | None:
        return self.audit_ids[1] if len(self.audit_ids) > 1 else None


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _ts(moment: datetime) -> float:
    return moment.replace(tzinfo=UTC).timestamp() if moment.tzinfo is None else moment.timestamp()


def _from_ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)


class KeyRepository:
    """The Fernet keys on disk (``<data>/fernet-keys``)."""

    def __init__(self, path: Path, max_active_keys: int = 3) -> None:
        self.path = path
        self.max_active_keys = max_active_keys

    def indexes(self) -> list[int]:
        if not self.path.is_dir():
            return []
        return sorted(int(p.name) for p in self.path.iterdir() if p.name.isdigit())

    def _write(self, index: int, key: bytes) -> None:
        tmp = self.path / f".{index}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        os.replace(tmp, self.path / str(index))

    def ensure(self) -> None:
        """Create the repository with a staged and a primary key if it has none."""
        if self.indexes():
            return
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._write(0, Fernet.generate_key())
        self._write(1, Fernet.generate_key())

    def rotate(self) -> int:
        """Promote the staged key to primary and stage a new one; returns the new primary."""
        self.ensure()
        indexes = self.indexes()
        new_primary = indexes[-1] + 1
        os.replace(self.path / "0", self.path / str(new_primary))
        self._write(0, Fernet.generate_key())
        secondaries = [i for i in self.indexes() if i not in (0, new_primary)]
        while len(secondaries) + 2 > self.max_active_keys and secondaries:
            (self.path / str(secondaries.pop(0))).unlink()
        return new_primary

    def load(self) -> list[bytes]:
        """Primary first, then secondaries newest first, then staged."""
        indexes = self.indexes()
        if not indexes:
            raise RuntimeError(f"no Fernet keys in {self.path}; run `labs identity rotate-keys`")
        order = [*sorted((i for i in indexes if i != 0), reverse=True), 0]
        return [(self.path / str(i)).read_bytes().strip() for i in order]


class TokenCodec:
    """Packs a payload into a Fernet token and back."""

    def __init__(self, keys: KeyRepository) -> None:
        self._repo = keys
        self._fernet: MultiFernet | None = None
        self._loaded_at: tuple[int, int] = (0, 0)

    def _crypto(self) -> MultiFernet:
        # Reload when another process rotated the keys: the directory changes whenever a
        # key file is added, renamed or removed, and a stat is cheap enough for every call.
        stat = os.stat(self._repo.path)
        current = (stat.st_mtime_ns, stat.st_ino)
        if self._fernet is None or current != self._loaded_at:
            self._fernet = MultiFernet([Fernet(k) for k in self._repo.load()])
            self._loaded_at = current
        return self._fernet

    def encode(self, payload: TokenPayload) -> str:
        mask = sum(1 << METHODS.index(m) for m in payload.methods)
        scope: list[object] = (["s"] if payload.system else
                               ["p", payload.project_id] if payload.project_id else
                               ["d", payload.domain_id] if payload.domain_id else [])
        packed = [1, payload.user_id, mask, int(_ts(payload.expires_at)),
                  round(_ts(payload.issued_at), 6), list(payload.audit_ids), scope,
                  payload.application_credential_id]
        if payload.trust_id:
            packed.append(payload.trust_id)
        raw = json.dumps(packed, separators=(",", ":")).encode()
        return self._crypto().encrypt(raw).decode().rstrip("=")

    def decode(self, token: str) -> TokenPayload:
        padded = token + "=" * (-len(token) % 4)
        try:
            raw = self._crypto().decrypt(padded.encode())
            (version, user_id, mask, expires, issued, audit_ids, scope,
             app_cred, *rest) = json.loads(raw)
        except (InvalidToken, ValueError, TypeError, UnicodeError):
            raise Unauthorized("The request you have made requires authentication.") from None
        if version != 1:
            raise Unauthorized("Token format is not supported.")
        return TokenPayload(
            user_id=user_id,
            methods=tuple(m for i, m in enumerate(METHODS) if mask & (1 << i)),
            expires_at=_from_ts(expires), issued_at=_from_ts(issued),
            audit_ids=tuple(audit_ids),
            project_id=scope[1] if scope[:1] == ["p"] else None,
            domain_id=scope[1] if scope[:1] == ["d"] else None,
            system=scope[:1] == ["s"],
            application_credential_id=app_cred,
            trust_id=rest[0] if rest else None,
        )


def new_secret() -> str:
    """A secret for an application credential, as Keystone generates them."""
    return secrets.token_urlsafe(64)
