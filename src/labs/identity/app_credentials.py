"""Application credentials: a user's delegated, project-bound, role-limited secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from labs.common.db import save_unique
from labs.common.errors import BadRequest, NotFound
from labs.identity import models
from labs.identity.access_rules import attach, check_refs, rules_of
from labs.identity.assignments import role_ids_for
from labs.identity.backends.base import IdentityBackend
from labs.identity.implied_roles import expand
from labs.identity.passwords import PasswordChecks
from labs.identity.resources import new_id, revoke, utcnow
from labs.identity.store import IdentityStore
from labs.identity.tokens import new_secret

AC = models.ApplicationCredential


@dataclass(frozen=True)
class NewCredential:
    row: models.ApplicationCredential
    secret: str
    access_rules: list[models.AccessRule]


class ApplicationCredentialService:
    def __init__(self, store: IdentityStore, backend: IdentityBackend, passwords: PasswordChecks,
                 token_lifetime: int) -> None:
        self.store = store
        self.backend = backend
        self.passwords = passwords
        self.lifetime = token_lifetime

    def create(self, user_id: str, project_id: str, token_role_ids: list[str],
               fields: dict[str, Any]) -> NewCredential:
        secret = fields.get("secret") or new_secret()
        expires = fields.get("expires_at")
        expires_at = None
        if expires:
            try:
                expires_at = datetime.fromisoformat(expires.replace("Z", "+00:00"))
                if expires_at.tzinfo is not None:
                    expires_at = expires_at.astimezone(UTC).replace(tzinfo=None)
            except (ValueError, OverflowError):  # overflow: a zone moving it past 1 or 9999
                raise BadRequest(f"Invalid expires_at {expires!r}: use ISO 8601.") from None
            if expires_at < utcnow():
                raise BadRequest("expires_at is in the past.")
        secret_hash = self.passwords.hash(secret)  # before the transaction: it takes a while
        with self.store.write() as tx:
            held = set(expand(tx, role_ids_for(tx, self.backend, user_id,
                                               models.TARGET_PROJECT, project_id)))
            held &= set(token_role_ids)
            wanted = self._resolve_roles(tx, fields.get("roles"), held)
            check_refs(tx, user_id, fields.get("access_rules") or [])
            row = AC(id=new_id(), name=fields["name"], user_id=user_id, project_id=project_id,
                     secret_hash=secret_hash,
                     description=fields.get("description") or "", expires_at=expires_at,
                     unrestricted=bool(fields.get("unrestricted", False)),
                     role_ids=sorted(wanted))
            save_unique(tx, f"application credential - one named {fields['name']!r} exists", row)
            rules = attach(tx, user_id, row.id, fields.get("access_rules") or [])
            return NewCredential(row, secret, rules)

    @staticmethod
    def _resolve_roles(tx: Any, asked: list[dict[str, str]] | None, held: set[str]) -> set[str]:
        if not asked:
            return held
        wanted: set[str] = set()
        for ref in asked:
            query = sa.select(models.Role.id)
            query = (query.where(models.Role.id == ref["id"]) if "id" in ref
                     else query.where(models.Role.name == ref.get("name")))
            role_id = tx.scalars(query).first()
            if role_id is None or role_id not in held:
                raise BadRequest(f"Role {ref} is not held by the user on the project; an "
                                 "application credential can only carry roles you have.")
            wanted.add(role_id)
        return wanted

    def access_rules(self, credential_ids: list[str]) -> dict[str, list[models.AccessRule]]:
        with self.store.read() as tx:
            return rules_of(tx, credential_ids)

    def get(self, user_id: str, credential_id: str) -> models.ApplicationCredential:
        with self.store.read() as tx:
            row = tx.get(AC, credential_id)
            if row is None or row.user_id != user_id:
                raise NotFound(f"Could not find application credential: {credential_id}.")
            return row

    def list(self, user_id: str, name: str | None = None) -> list[models.ApplicationCredential]:
        query = sa.select(AC).where(AC.user_id == user_id).order_by(AC.name)
        if name is not None:
            query = query.where(AC.name == name)
        with self.store.read() as tx:
            self.backend.get_user(tx, user_id)
            return list(tx.scalars(query))

    def delete(self, user_id: str, credential_id: str) -> None:
        with self.store.write() as tx:
            row = tx.get(AC, credential_id)
            if row is None or row.user_id != user_id:
                raise NotFound(f"Could not find application credential: {credential_id}.")
            tx.delete(row)
            revoke(tx, self.lifetime, application_credential_id=credential_id)
