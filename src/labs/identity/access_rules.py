"""Access rules of application credentials: which service, method and path a token may call.

A user's rules are shared by their credentials: asking for a rule the user already has
reuses it (as Keystone). A rule in use by a credential cannot be deleted.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.access_rules import AccessRule as Allowed
from labs.common.errors import BadRequest, Forbidden, NotFound
from labs.identity import models
from labs.identity.resources import new_id
from labs.identity.store import IdentityStore

AR, LINK = models.AccessRule, models.ApplicationCredentialAccessRule


def check_refs(tx: Session, user_id: str, asked: list[dict[str, Any]]) -> None:
    """Rules given by id must be the user's own (checked before anything is written)."""
    for ref in asked:
        if "service" not in ref:
            row = tx.get(AR, ref["id"])
            if row is None or row.user_id != user_id:
                raise BadRequest(f"Could not find access rule: {ref['id']}.")


def attach(tx: Session, user_id: str, credential_id: str,
           asked: list[dict[str, Any]]) -> list[models.AccessRule]:
    """Find or make the user's rules ``asked`` and attach them to the credential."""
    rules: dict[str, models.AccessRule] = {}
    for ref in asked:
        if "service" in ref:
            row = tx.scalars(sa.select(AR).where(
                AR.user_id == user_id, AR.service == ref["service"], AR.path == ref["path"],
                AR.method == ref["method"])).first()
            if row is None:
                row = AR(id=new_id(), user_id=user_id, service=ref["service"],
                         path=ref["path"], method=ref["method"])
                tx.add(row)
                tx.flush()
        else:
            row = tx.get(AR, ref["id"])
            if row is None or row.user_id != user_id:
                raise BadRequest(f"Could not find access rule: {ref['id']}.")
        rules[row.id] = row
    tx.add_all(LINK(app_cred_id=credential_id, access_rule_id=rule_id) for rule_id in rules)
    return list(rules.values())


def rules_of(tx: Session, credential_ids: list[str]) -> dict[str, list[models.AccessRule]]:
    """Credential id -> its access rules, for the credentials that have any."""
    out: dict[str, list[models.AccessRule]] = {}
    if not credential_ids:
        return out
    for cred_id, rule in tx.execute(sa.select(LINK.app_cred_id, AR).join(
            AR, AR.id == LINK.access_rule_id).where(LINK.app_cred_id.in_(credential_ids))
            .order_by(AR.service, AR.path, AR.method)):
        out.setdefault(cred_id, []).append(rule)
    return out


def allowed(rules: list[models.AccessRule]) -> tuple[Allowed, ...]:
    return tuple(Allowed(r.service, r.method, r.path) for r in rules)


class AccessRuleService:
    def __init__(self, store: IdentityStore) -> None:
        self.store = store

    def list(self, user_id: str) -> list[models.AccessRule]:
        with self.store.read() as tx:
            return list(tx.scalars(sa.select(AR).where(AR.user_id == user_id).order_by(
                AR.service, AR.path, AR.method)))

    @staticmethod
    def _get(tx: Session, user_id: str, rule_id: str) -> models.AccessRule:
        row = tx.get(AR, rule_id)
        if row is None or row.user_id != user_id:
            raise NotFound(f"Could not find access rule: {rule_id}.")
        return row

    def get(self, user_id: str, rule_id: str) -> models.AccessRule:
        with self.store.read() as tx:
            return self._get(tx, user_id, rule_id)

    def delete(self, user_id: str, rule_id: str) -> None:
        with self.store.write() as tx:
            row = self._get(tx, user_id, rule_id)
            if tx.scalars(sa.select(LINK.app_cred_id).where(
                    LINK.access_rule_id == rule_id).limit(1)).first() is not None:
                raise Forbidden(f"Cannot delete access rule {rule_id}: it is in use by an "
                                "application credential.")
            tx.delete(row)
