"""Role inference rules (implied roles): holding one role grants others.

Tokens and the effective role assignments expand a user's roles through the
rules, transitively. Labs roles are all global, so Keystone's rule that a
global role cannot imply a domain-specific one holds by construction; as
Keystone's default ``prohibited_implied_role`` says, nothing may imply
``admin``; and no rule may close a cycle.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.errors import Conflict, Forbidden, NotFound
from labs.identity import models
from labs.identity.resources import get_row
from labs.identity.store import IdentityStore

IR = models.ImpliedRole
#: Keystone's ``[assignment] prohibited_implied_role`` default.
PROHIBITED_IMPLIED = frozenset({"admin"})
#: The rules bootstrap makes (Keystone's admin -> member -> reader, and the Labs project admin).
DEFAULT_INFERENCES = (("admin", "member"), ("projectadmin", "member"), ("member", "reader"))


def _rules(tx: Session) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for prior, implied in tx.execute(sa.select(IR.prior_role_id, IR.implied_role_id)):
        out.setdefault(prior, set()).add(implied)
    return out


def expand(tx: Session, role_ids: list[str]) -> list[str]:
    """``role_ids`` and every role they imply, transitively (directly held first)."""
    rules = _rules(tx) if role_ids else {}
    seen = list(dict.fromkeys(role_ids))
    todo = list(seen)
    while todo:
        for implied in sorted(rules.get(todo.pop(), ())):
            if implied not in seen:
                seen.append(implied)
                todo.append(implied)
    return seen


def implied_by(tx: Session, role_ids: list[str]) -> dict[str, str]:
    """Roles implied (not held directly): implied role id -> the held role that implies it."""
    rules = _rules(tx) if role_ids else {}
    found: dict[str, str] = {}
    todo = list(role_ids)
    while todo:
        prior = todo.pop()
        for implied in sorted(rules.get(prior, ())):
            if implied not in found and implied not in role_ids:
                found[implied] = prior
                todo.append(implied)
    return found


class ImpliedRoleService:
    def __init__(self, store: IdentityStore) -> None:
        self.store = store

    def _pair(self, tx: Session, prior_id: str, implied_id: str) -> tuple[models.Role,
                                                                            models.Role]:
        return (get_row(tx, models.Role, prior_id, "role"),
                get_row(tx, models.Role, implied_id, "role"))

    def create(self, prior_id: str, implied_id: str) -> tuple[models.Role, models.Role]:
        with self.store.write() as tx:
            prior, implied = self._pair(tx, prior_id, implied_id)
            if implied.name in PROHIBITED_IMPLIED:
                raise Forbidden(f"{implied_id} cannot be an implied roles.")
            if tx.get(IR, (prior_id, implied_id)) is None:
                if prior_id in expand(tx, [implied_id]):
                    raise Conflict(f"Role {prior_id} implying {implied_id} would make a "
                                   "cycle of role inferences.")
                tx.add(IR(prior_role_id=prior_id, implied_role_id=implied_id))
            return prior, implied

    def get(self, prior_id: str, implied_id: str) -> tuple[models.Role, models.Role]:
        with self.store.read() as tx:
            pair = self._pair(tx, prior_id, implied_id)
            if tx.get(IR, (prior_id, implied_id)) is None:
                raise NotFound(f"{prior_id} does not imply {implied_id}.")
            return pair

    def delete(self, prior_id: str, implied_id: str) -> None:
        with self.store.write() as tx:
            self._pair(tx, prior_id, implied_id)
            row = tx.get(IR, (prior_id, implied_id))
            if row is None:
                raise NotFound(f"{prior_id} does not imply {implied_id}.")
            tx.delete(row)

    def list_for(self, prior_id: str) -> tuple[models.Role, list[models.Role]]:
        """A role and the roles it implies directly."""
        with self.store.read() as tx:
            prior = get_row(tx, models.Role, prior_id, "role")
            return prior, list(tx.scalars(sa.select(models.Role).join(
                IR, IR.implied_role_id == models.Role.id).where(
                IR.prior_role_id == prior_id).order_by(models.Role.name)))

    def list_all(self) -> list[tuple[models.Role, list[models.Role]]]:
        """Every role that implies others, with the roles it implies directly."""
        with self.store.read() as tx:
            roles = {r.id: r for r in tx.scalars(sa.select(models.Role))}
            rules = _rules(tx)
        return [(roles[prior], sorted((roles[i] for i in implied), key=lambda r: r.name))
                for prior, implied in sorted(rules.items(), key=lambda kv: roles[kv[0]].name)]

    def ensure_defaults(self) -> None:
        """The default rules, for whichever of their roles exist (bootstrap)."""
        with self.store.read() as tx:
            ids = dict(tx.execute(sa.select(models.Role.name, models.Role.id)).all())
            have = {tuple(r) for r in tx.execute(sa.select(IR.prior_role_id, IR.implied_role_id))}
        missing = [(ids[p], ids[i]) for p, i in DEFAULT_INFERENCES
                   if p in ids and i in ids and (ids[p], ids[i]) not in have]
        if missing:
            with self.store.write() as tx:
                tx.add_all(IR(prior_role_id=p, implied_role_id=i) for p, i in missing)
