"""Trusts (OS-TRUST): a trustor delegates some of their roles on a project to a trustee.

The trustee authenticates as themselves with ``scope: {"OS-TRUST:trust":
{"id": ...}}`` and gets a token on the trust's project carrying the trust's
roles that the trustor still holds there (as the trustor when the trust says
``impersonation``). ``remaining_uses`` counts such authentications down in
one conditional UPDATE, so concurrent ones never overdraw it. A token made
from a trust names it; deleting the trust, the trust expiring or the trustor
losing every delegated role ends the token at its next validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import affected
from labs.common.errors import BadRequest, Forbidden, NotFound, Unauthorized
from labs.identity import models
from labs.identity.assignments import role_ids_for
from labs.identity.backends.base import IdentityBackend
from labs.identity.implied_roles import expand
from labs.identity.resources import get_row, new_id, utcnow
from labs.identity.store import IdentityStore

T = models.Trust
#: Keystone's [trust] max_redelegation_count.
MAX_REDELEGATION_COUNT = 3


def parse_expiry(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise BadRequest(f"Invalid expires_at {value!r}: use ISO 8601.") from None
    if moment < utcnow():
        raise BadRequest("The expiration time expires_at is in the past.")
    return moment


def is_live(trust: models.Trust | None) -> bool:
    """Not expired and not used up (Keystone then answers as if it did not exist)."""
    return trust is not None and (trust.expires_at is None or trust.expires_at > utcnow()) \
        and (trust.remaining_uses is None or trust.remaining_uses > 0)


def original_trustor(tx: Session, trust: models.Trust) -> str:
    """Whose roles a (redelegated) trust hands on: the trustor at the start of the chain."""
    for _depth in range(MAX_REDELEGATION_COUNT + 2):
        if trust.redelegated_trust_id is None:
            return trust.trustor_user_id
        parent = tx.get(T, trust.redelegated_trust_id)
        if parent is None:
            break
        trust = parent
    raise Unauthorized("The trust this one was redelegated from is gone.")


def effective_role_ids(tx: Session, backend: IdentityBackend, trust: models.Trust) -> list[str]:
    """The trust's roles the original trustor still holds on its project."""
    if trust.project_id is None:
        return []
    held = set(expand(tx, role_ids_for(tx, backend, original_trustor(tx, trust),
                                       models.TARGET_PROJECT, trust.project_id)))
    return [r for r in trust.role_ids if r in held]


def trust_in_scope(scope: Any, with_app_cred: bool) -> str | None:
    """The trust id of an ``OS-TRUST:trust`` scope, if that is the scope asked for."""
    if not isinstance(scope, dict) or "OS-TRUST:trust" not in scope:
        return None
    if len(scope) != 1:
        raise BadRequest("A trust scope comes alone.")
    if with_app_cred:
        raise Forbidden("An application credential cannot be used with a trust.")
    return str(scope["OS-TRUST:trust"]["id"])


@dataclass(frozen=True)
class Redeemed:
    """What authenticating with a trust gives: the token's user, project and limits."""

    trust: models.Trust
    user_id: str
    project_id: str | None
    expires_at: datetime | None


class TrustService:
    def __init__(self, store: IdentityStore, backend: IdentityBackend) -> None:
        self.store = store
        self.backend = backend

    def create(self, trustor_id: str, fields: dict[str, Any],
               parent: models.Trust | None = None) -> models.Trust:
        """``parent``: the trust of the token making this one (redelegation)."""
        if fields["trustor_user_id"] != trustor_id:
            raise Forbidden("The authenticated user should match the trustor.")
        expires_at = parse_expiry(fields.get("expires_at"))
        project_id = fields.get("project_id")
        if project_id and not fields.get("roles"):
            raise BadRequest("At least one role should be specified.")
        allow = bool(fields.get("allow_redelegation", False))
        count = fields.get("redelegation_count")
        if allow and fields.get("remaining_uses") is not None:
            raise BadRequest("remaining_uses must not be set if redelegation is allowed.")
        if count is not None and count > MAX_REDELEGATION_COUNT:
            raise Forbidden(f"Remaining redelegation depth of {count} out of allowed range "
                            f"of [0..{MAX_REDELEGATION_COUNT}].")
        if allow and count is None and parent is None:
            count = MAX_REDELEGATION_COUNT
        with self.store.write() as tx:
            self.backend.get_user(tx, fields["trustee_user_id"])
            if project_id:
                get_row(tx, models.Project, project_id, "project")
            role_ids = self._role_ids(tx, fields.get("roles") or [])
            if project_id:
                origin = original_trustor(tx, parent) if parent is not None else trustor_id
                held = set(expand(tx, role_ids_for(tx, self.backend, origin,
                                                   models.TARGET_PROJECT, project_id)))
                for role_id in role_ids:
                    if role_id not in held:
                        raise NotFound(f"Could not find role: {role_id}.")
            if parent is not None:
                count = self._check_redelegation(parent, project_id, role_ids, expires_at,
                                                 fields, count)
            row = T(id=new_id(), trustor_user_id=trustor_id,
                    trustee_user_id=fields["trustee_user_id"], project_id=project_id or None,
                    impersonation=fields["impersonation"], expires_at=expires_at,
                    remaining_uses=fields.get("remaining_uses"),
                    allow_redelegation=allow and count != 0,
                    redelegation_count=count if allow else None,
                    redelegated_trust_id=parent.id if parent is not None else None,
                    role_ids=role_ids)
            tx.add(row)
            tx.flush()
            return row

    @staticmethod
    def _role_ids(tx: Session, refs: list[dict[str, str]]) -> list[str]:
        ids: list[str] = []
        for ref in refs:
            if "id" in ref:
                role_id = tx.scalars(sa.select(models.Role.id).where(
                    models.Role.id == ref["id"])).first()
            elif "name" in ref:
                role_id = tx.scalars(sa.select(models.Role.id).where(
                    models.Role.name == ref["name"])).first()
            else:
                raise BadRequest("A role is given by id or by name.")
            if role_id is None:
                raise NotFound(f"Could not find role: {ref.get('id') or ref.get('name')}.")
            if role_id not in ids:
                ids.append(role_id)
        return ids

    @staticmethod
    def _check_redelegation(parent: models.Trust, project_id: str | None, role_ids: list[str],
                            expires_at: datetime | None, fields: dict[str, Any],
                            count: int | None) -> int:
        if not parent.allow_redelegation or not parent.redelegation_count:
            raise Forbidden(f"Trust {parent.id} does not allow redelegation.")
        if project_id != parent.project_id or not set(role_ids) <= set(parent.role_ids):
            raise Forbidden("A redelegated trust keeps its parent's project and at most its "
                            "roles.")
        if parent.expires_at is not None and (expires_at is None
                                              or expires_at > parent.expires_at):
            raise Forbidden("A redelegated trust cannot outlive its parent.")
        if fields["impersonation"] and not parent.impersonation:
            raise Forbidden("Impersonation is not allowed by the redelegated trust.")
        most = parent.redelegation_count - 1
        if count is not None and count > most:
            raise Forbidden(f"Remaining redelegation depth of {count} out of allowed range "
                            f"of [0..{most}].")
        return most if count is None else count

    def get(self, trust_id: str) -> models.Trust:
        with self.store.read() as tx:
            row = tx.get(T, trust_id)
            if not is_live(row):
                raise NotFound(f"Could not find trust: {trust_id}.")
            assert row is not None
            return row

    def list(self, trustor_id: str | None = None,
             trustee_id: str | None = None) -> list[models.Trust]:
        query = sa.select(T).order_by(T.id)
        if trustor_id is not None:
            query = query.where(T.trustor_user_id == trustor_id)
        if trustee_id is not None:
            query = query.where(T.trustee_user_id == trustee_id)
        with self.store.read() as tx:
            return [row for row in tx.scalars(query) if is_live(row)]

    def delete(self, trust_id: str) -> None:
        """Delete a trust and the trusts redelegated from it; their tokens stop working."""
        with self.store.write() as tx:
            row = tx.get(T, trust_id)
            if not is_live(row):
                raise NotFound(f"Could not find trust: {trust_id}.")
            doomed = [trust_id]
            while doomed:
                current = doomed.pop()
                doomed += tx.scalars(sa.select(T.id).where(T.redelegated_trust_id == current))
                tx.execute(sa.delete(T).where(T.id == current))

    def redeem(self, trust_id: str, user_id: str) -> Redeemed:
        """Authenticate ``user_id`` (the trustee) with a trust, using one of its uses."""
        with self.store.write() as tx:
            trust = tx.get(T, trust_id)
            if not is_live(trust):
                raise NotFound(f"Could not find trust: {trust_id}.")
            assert trust is not None
            if trust.trustee_user_id != user_id:
                raise Forbidden("The user is not the trustee of the trust.")
            trustor = self.backend.get_user(tx, trust.trustor_user_id)
            if not trustor.enabled:
                raise Forbidden("The trustor is disabled.")
            if trust.project_id is not None and not effective_role_ids(tx, self.backend, trust):
                raise Forbidden("The trustor no longer holds any of the trust's roles.")
            if trust.remaining_uses is not None:
                used = tx.execute(sa.update(T).where(T.id == trust_id, T.remaining_uses > 0)
                                  .values(remaining_uses=T.remaining_uses - 1))
                if affected(used) != 1:
                    raise Forbidden(f"No remaining uses for trust: {trust_id}.")
            return Redeemed(trust, trust.trustor_user_id if trust.impersonation else user_id,
                            trust.project_id, trust.expires_at)

    @staticmethod
    def check_token_trust(tx: Session, trust_id: str) -> models.Trust:
        """The trust a token was made from, while it lasts (remaining uses do not matter)."""
        trust = tx.get(T, trust_id)
        if trust is None or (trust.expires_at is not None and trust.expires_at <= utcnow()):
            raise Unauthorized(f"Trust {trust_id} was deleted or has expired.")
        return trust
