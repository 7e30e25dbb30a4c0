"""Issuing, validating and revoking tokens.

A token is checked cryptographically first; what it refers to (the user, the
scope, the roles, the catalog) is looked up once and cached per token, stamped
with the identity revision. Any identity write changes the revision, so a
cached answer is never stale: a revoked token, a disabled user or a removed
role takes effect at the next request, in every process.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.context import Authenticator, RequestContext
from labs.common.errors import BadRequest, Forbidden, NotFound, Unauthorized
from labs.identity import models
from labs.identity.access_rules import allowed, rules_of
from labs.identity.assignments import role_ids_for
from labs.identity.backends.base import IdentityBackend, UserRecord
from labs.identity.catalog import read_catalog
from labs.identity.implied_roles import expand
from labs.identity.passwords import PasswordChecks
from labs.identity.resources import ResourceService, revoke, utcnow
from labs.identity.store import IdentityStore
from labs.identity.tokens import TokenCodec, TokenPayload, new_audit_id
from labs.identity.trusts import TrustService, effective_role_ids, trust_in_scope
from labs.identity.users import UserService
from labs.identity.validated import Scope, TokenCache, ValidatedToken

DENIED = "The request you have made requires authentication."
#: A token carries the audit ids of its ancestors; this bounds the lineage (and its size).
MAX_RESCOPES = 16


class TokenService(Authenticator):
    def __init__(self, store: IdentityStore, backend: IdentityBackend, codec: TokenCodec,
                 resources: ResourceService, lifetime: int, default_domain_id: str,
                 cache_size: int, users: UserService, passwords: PasswordChecks,
                 trusts: TrustService | None = None) -> None:
        self.store = store
        self.backend = backend
        self.codec = codec
        self.resources = resources
        self.lifetime = lifetime
        self.default_domain_id = default_domain_id
        self.cache = TokenCache(cache_size)
        self.users = users
        self.passwords = passwords
        self.trusts = trusts

    # -- issuing -------------------------------------------------------------
    def issue(self, auth: dict[str, Any]) -> ValidatedToken:
        """Authenticate ``auth`` (the body's ``auth`` object) and issue a token."""
        identity = auth["identity"]
        methods: list[str] = identity["methods"]
        if not methods or len(set(methods)) != len(methods):
            raise BadRequest("identity.methods must list each method once.")
        for method in methods:
            if method not in ("password", "token", "application_credential"):
                raise Unauthorized(f"Attempted to authenticate with an unsupported method: "
                                   f"{method}.")
            if method not in identity:
                raise BadRequest(f"identity.{method} is required by the methods list.")
        # credentials first, each check outside any transaction (bcrypt takes a while)
        user_id, expires, audit_ids, app_cred, carried = self._authenticate(identity)
        trust_ref = trust_in_scope(auth.get("scope"), app_cred is not None)
        with self.store.read() as tx:
            self._check_user_active(tx, user_id)
            scope = Scope() if trust_ref else self._scope(tx, auth.get("scope"), user_id)
            if app_cred is not None:
                if not scope.empty and scope.project_id != app_cred.project_id:
                    raise Unauthorized("An application credential token is always scoped to "
                                       "the credential's project.")
                scope = Scope(project_id=app_cred.project_id)
            elif scope.empty and auth.get("scope") != "unscoped" and not trust_ref:
                scope = self._default_scope(tx, user_id)
        trust_id = None
        if trust_ref and self.trusts is not None:  # the trustee's, used up last
            redeemed = self.trusts.redeem(trust_ref, user_id)
            user_id, scope, trust_id = (redeemed.user_id, Scope(project_id=redeemed.project_id),
                                        redeemed.trust.id)
            if redeemed.expires_at is not None:
                expires = min(expires or redeemed.expires_at, redeemed.expires_at)
        now = utcnow()
        expires = expires or now + timedelta(seconds=self.lifetime)
        if app_cred is not None and app_cred.expires_at is not None:
            # a token never outlives the credential it was made from (as Keystone)
            expires = min(expires, app_cred.expires_at)
        payload = TokenPayload(
            user_id=user_id, methods=tuple(dict.fromkeys([*carried, *methods])),
            expires_at=expires, issued_at=now,
            audit_ids=(new_audit_id(), *audit_ids),
            project_id=scope.project_id, domain_id=scope.domain_id, system=scope.system,
            application_credential_id=app_cred.id if app_cred else None, trust_id=trust_id)
        token = self.codec.encode(payload)
        return self._resolve(token, payload, self.store.revision())

    def issue_for(self, user_id: str, project_id: str, method: str) -> ValidatedToken:
        """A project token for a user a credential (an EC2 signature) has identified."""
        now = utcnow()
        payload = TokenPayload(user_id=user_id, methods=(method,), issued_at=now,
                               expires_at=now + timedelta(seconds=self.lifetime),
                               audit_ids=(new_audit_id(),), project_id=project_id)
        return self._resolve(self.codec.encode(payload), payload, self.store.revision())

    def _authenticate(self, identity: dict[str, Any]) -> tuple[
            str, Any, tuple[str, ...], models.ApplicationCredential | None, tuple[str, ...]]:
        """Returns user id, inherited expiry, ancestors' audit ids, credential, carried methods."""
        user_ids: set[str] = set()
        expires = app_cred = None
        audit_ids: tuple[str, ...] = ()
        carried: tuple[str, ...] = ()
        if "password" in identity["methods"]:
            user_ids.add(self._check_password(identity["password"]["user"]))
        if "token" in identity["methods"]:
            held = self.validate(identity["token"]["id"])
            if held.payload.application_credential_id:
                raise Unauthorized("A token made from an application credential cannot be "
                                   "used to get another token.")
            if held.payload.trust_id:
                raise Forbidden("Using trust-scoped token to create another token. Create "
                                "a new trust-scoped token instead.")
            user_ids.add(held.user.id)
            if len(held.payload.audit_ids) >= MAX_RESCOPES:
                raise Unauthorized("The token was rescoped too many times; authenticate "
                                   "again.")
            # the whole lineage: revoking any ancestor revokes this token too
            expires, audit_ids = held.payload.expires_at, held.payload.audit_ids
            carried = held.payload.methods
        if "application_credential" in identity["methods"]:
            app_cred = self._check_app_cred(identity["application_credential"])
            user_ids.add(app_cred.user_id)
        if len(user_ids) != 1:
            raise Unauthorized("The methods name different users.")
        return user_ids.pop(), expires, audit_ids, app_cred, carried

    def _find_user(self, ref: dict[str, Any]) -> UserRecord | None:
        """The user ``ref`` names, or None when there is none."""
        with self.store.read() as tx:
            try:
                if "id" in ref:
                    return self.backend.get_user(tx, ref["id"])
                if "name" not in ref:
                    raise BadRequest("A user must be given by id, or by name with its domain.")
                domain = ref.get("domain") or {}
                return self.backend.find_user(tx, ref["name"], self._domain_id(tx, domain))
            except NotFound:
                return None

    def _domain_id(self, tx: Session, ref: dict[str, Any]) -> str:
        if "id" in ref:
            return str(ref["id"])
        if "name" in ref:
            return self.resources.find_domain(tx, ref["name"]).id
        raise BadRequest("A name must come with its domain (id or name).")

    def _check_password(self, ref: dict[str, Any]) -> str:
        user = self._find_user(ref)
        if user is None:
            self.passwords.verify(ref["password"], None)  # as long as for a real user
            raise Unauthorized(DENIED)
        # a locked-out user gets the same answer as a wrong password (as Keystone)
        if not self.users.check_password(user.id, ref["password"]):
            raise Unauthorized(DENIED)
        return user.id

    def _check_app_cred(self, ref: dict[str, Any]) -> models.ApplicationCredential:
        AC = models.ApplicationCredential
        if "id" not in ref and not ("name" in ref and "user" in ref):
            raise BadRequest("An application credential is given by id, or by name and user.")
        user = None if "id" in ref else self._find_user(ref["user"])
        with self.store.read() as tx:
            if "id" in ref:
                row = tx.get(AC, ref["id"])
            else:
                row = None if user is None else tx.scalars(sa.select(AC).where(
                    AC.user_id == user.id, AC.name == ref["name"])).first()
        matched = self.passwords.verify(ref["secret"], row.secret_hash if row else None)
        if row is None or not matched:
            raise Unauthorized(DENIED)
        if row.expires_at is not None and row.expires_at <= utcnow():
            raise Unauthorized("The application credential has expired.")
        return row

    def _check_user_active(self, tx: Session, user_id: str) -> tuple[UserRecord, models.Domain]:
        try:
            user = self.backend.get_user(tx, user_id)
        except NotFound:
            raise Unauthorized(DENIED) from None
        domain = tx.get(models.Domain, user.domain_id)
        if not user.enabled or domain is None or not domain.enabled:
            raise Unauthorized(f"User {user_id} is disabled.")
        return user, domain

    def _scope(self, tx: Session, scope: Any, user_id: str) -> Scope:
        if not scope or scope == "unscoped":
            return Scope()
        if not isinstance(scope, dict):
            raise BadRequest("scope must be an object or \"unscoped\".")
        if len(scope) != 1:
            raise BadRequest("Give exactly one of scope.project, scope.domain, scope.system.")
        if "system" in scope:
            if scope["system"] != {"all": True}:
                raise BadRequest('The only system scope is {"all": true}.')
            return Scope(system=True)
        if "domain" in scope:
            try:
                return Scope(domain_id=self._domain_id(tx, scope["domain"]))
            except NotFound:  # as for a domain given by id: no access, not "not found"
                raise Unauthorized(f"User {user_id} has no access to domain "
                                   f"{scope['domain'].get('name')}.") from None
        if "project" in scope:
            ref = scope["project"]
            if "id" in ref:
                return Scope(project_id=ref["id"])
            if "name" not in ref:
                raise BadRequest("A project must be given by id, or by name with its domain.")
            try:
                project = self.resources.find_project(tx, ref["name"],
                                                      self._domain_id(tx, ref.get("domain", {})))
            except NotFound:
                raise Unauthorized(f"User {user_id} has no access to project "
                                   f"{ref['name']}.") from None
            return Scope(project_id=project.id)
        raise BadRequest(f"Unknown scope {sorted(scope)}.")

    def _default_scope(self, tx: Session, user_id: str) -> Scope:
        user = self.backend.get_user(tx, user_id)
        project_id = user.default_project_id
        if project_id:
            project = tx.get(models.Project, project_id)
            if project is not None and project.enabled and role_ids_for(
                    tx, self.backend, user_id, models.TARGET_PROJECT, project_id):
                return Scope(project_id=project_id)
        return Scope()

    # -- validating ----------------------------------------------------------
    def validate(self, token: str, revision: int | None = None) -> ValidatedToken:
        """The token's meaning, or 401 when it is bad, expired or revoked.

        ``revision``: the identity revision this request already read, if it did.
        """
        payload = self.codec.decode(token)
        if payload.expires_at <= utcnow():
            raise Unauthorized("The token has expired.")
        if revision is None:
            revision = self.store.revision()
        cached = self.cache.get(token, revision)
        if cached is None:
            cached = self._resolve(token, payload, revision)
        credential = cached.application_credential
        if credential is not None and credential.expires_at is not None \
                and credential.expires_at <= utcnow():
            # tokens made before their expiry was capped at the credential's
            raise Unauthorized("The application credential has expired.")
        return cached

    def authenticate(self, token: str) -> RequestContext:
        return self.validate(token).context

    def _resolve(self, token: str, payload: TokenPayload, revision: int) -> ValidatedToken:
        with self.store.read() as tx:
            self._check_not_revoked(tx, payload)
            user, user_domain = self._check_user_active(tx, payload.user_id)
            project = project_domain = domain = None
            if payload.project_id:
                project = tx.get(models.Project, payload.project_id)
                if project is None:
                    raise Unauthorized(f"Project {payload.project_id} does not exist.")
                project_domain = tx.get(models.Domain, project.domain_id)
                if not project.enabled or project_domain is None or not project_domain.enabled:
                    raise Unauthorized(f"Project {payload.project_id} is disabled.")
                target = (models.TARGET_PROJECT, project.id)
            elif payload.domain_id:
                domain = tx.get(models.Domain, payload.domain_id)
                if domain is None or not domain.enabled:
                    raise Unauthorized(f"Domain {payload.domain_id} is disabled or gone.")
                target = (models.TARGET_DOMAIN, domain.id)
            elif payload.system:
                target = (models.TARGET_SYSTEM, models.SYSTEM_ID)
            else:
                target = None
            role_ids: list[str] = []
            if target is not None:
                role_ids = expand(tx, role_ids_for(tx, self.backend, user.id, *target))
            app_cred = access_rules = None
            if payload.application_credential_id:
                app_cred = tx.get(models.ApplicationCredential, payload.application_credential_id)
                if app_cred is None:
                    raise Unauthorized("The application credential was deleted.")
                role_ids = expand(tx, [r for r in role_ids if r in app_cred.role_ids])
                rules = rules_of(tx, [app_cred.id]).get(app_cred.id)
                access_rules = allowed(rules) if rules else None
            trust = None
            if payload.trust_id:
                trust = TrustService.check_token_trust(tx, payload.trust_id)
                self._check_user_active(tx, trust.trustee_user_id)
                self._check_user_active(tx, trust.trustor_user_id)
                role_ids = expand(tx, effective_role_ids(tx, self.backend, trust))
            if target is not None and not role_ids:
                raise Unauthorized(f"User {user.id} has no role on the requested scope.")
            roles = tuple((row.id, row.name) for row in tx.execute(
                sa.select(models.Role.id, models.Role.name).where(
                    models.Role.id.in_(role_ids)).order_by(models.Role.name)))
            catalog = tuple(read_catalog(tx)) if target is not None else ()
        validated = ValidatedToken(token=token, payload=payload, user=user,
                                   user_domain=user_domain, roles=roles, project=project,
                                   project_domain=project_domain, domain=domain, catalog=catalog,
                                   application_credential=app_cred, trust=trust,
                                   access_rules=access_rules,
                                   revision=revision)
        self.cache.put(validated)
        return validated

    @staticmethod
    def _check_not_revoked(tx: Session, payload: TokenPayload) -> None:
        E = models.RevocationEvent
        issued = E.issued_before > payload.issued_at
        match = [E.audit_id.in_(payload.audit_ids), sa.and_(E.user_id == payload.user_id, issued)]
        if payload.project_id:
            match.append(sa.and_(E.project_id == payload.project_id, issued))
        if payload.application_credential_id:
            match.append(sa.and_(E.application_credential_id == payload.application_credential_id,
                                 issued))
        if tx.scalars(sa.select(E.id).where(sa.or_(*match)).limit(1)).first() is not None:
            raise Unauthorized("The token has been revoked.")

    # -- revoking ------------------------------------------------------------
    def revoke(self, token: str) -> None:
        """Revoke one token and every token rescoped from it."""
        validated = self.validate(token)
        with self.store.write() as tx:
            revoke(tx, self.lifetime, audit_id=validated.payload.audit_id)
