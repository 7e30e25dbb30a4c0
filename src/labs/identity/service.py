"""The identity service: the parts wired together, one object per process."""

from __future__ import annotations

from pathlib import Path

from labs.common.db import Database, upgrade
from labs.common.errors import NotFound
from labs.identity.access import ProjectAccessRecord, project_access
from labs.identity.access_rules import AccessRuleService
from labs.identity.app_credentials import ApplicationCredentialService
from labs.identity.assignments import AssignmentService
from labs.identity.auth import TokenService
from labs.identity.backends.base import IdentityBackend
from labs.identity.catalog import CatalogService
from labs.identity.config import IdentityOptions
from labs.identity.credentials import CredentialCrypto, CredentialService
from labs.identity.endpoint_groups import EndpointGroupService, PolicyBlobService
from labs.identity.implied_roles import ImpliedRoleService
from labs.identity.limits import LimitService
from labs.identity.lockout import Lockout
from labs.identity.membership import MembershipWatch
from labs.identity.passwords import PasswordChecks
from labs.identity.posix import ProjectGroups
from labs.identity.resources import ResourceService
from labs.identity.store import IdentityStore
from labs.identity.sudo.defaults import SudoDefaults
from labs.identity.sudo.service import SudoService
from labs.identity.sudo.store import SudoRuleStore
from labs.identity.tokens import KeyRepository, TokenCodec
from labs.identity.trusts import TrustService
from labs.identity.users import UserService


class IdentityService:
    """Domains, projects (and their sudo rules), users, groups, roles, catalog, credentials
    and tokens."""

    def __init__(self, db: Database, options: IdentityOptions, data_dir: Path,
                 backend: IdentityBackend, sudo_rules: SudoRuleStore,
                 membership: MembershipWatch | None = None,
                 store: IdentityStore | None = None) -> None:
        self.options = options
        self.store = store or IdentityStore(db)
        self.backend = backend
        #: told of every change to who is in which project (the directory's groups)
        self.membership = membership or MembershipWatch()
        lifetime = options.token_expiration
        self.keys = KeyRepository(Path(options.key_repository or data_dir / "fernet-keys"),
                                  options.max_active_keys)
        # every project has a POSIX group and sudo rules: made with it and go with it (and
        # the directory's copy of its group follows, after the gid is taken)
        self.resources = ResourceService(self.store, lifetime,
                                         (ProjectGroups(), SudoDefaults(sudo_rules),
                                          self.membership), self.membership)
        self.sudo = SudoService(self.store, sudo_rules)
        self.passwords = PasswordChecks(options.password_hash_rounds,
                                        options.password_check_concurrency,
                                        options.password_check_queue)
        self.lockout = Lockout(db, options.lockout_failure_attempts, options.lockout_duration)
        self.users = UserService(self.store, self.backend, lifetime, options.max_password_length,
                                 self.passwords, self.lockout, self.membership)
        self.assignments = AssignmentService(self.store, self.backend, self.membership)
        self.catalog = CatalogService(self.store)
        self.implied_roles = ImpliedRoleService(self.store)
        self.limits = LimitService(self.store)
        self.access_rules = AccessRuleService(self.store)
        self.endpoint_groups = EndpointGroupService(self.store)
        self.policy_blobs = PolicyBlobService(self.store)
        self.app_credentials = ApplicationCredentialService(
            self.store, self.backend, self.passwords, lifetime)
        self.credential_keys = KeyRepository(
            Path(options.credential_key_repository or data_dir / "credential-keys"),
            options.max_active_keys)
        self.credentials = CredentialService(self.store, self.backend,
                                             CredentialCrypto(self.credential_keys))
        self.trusts = TrustService(self.store, self.backend)
        self.tokens = TokenService(self.store, self.backend, TokenCodec(self.keys),
                                   self.resources, lifetime, options.default_domain_id,
                                   options.token_cache_size, self.users, self.passwords,
                                   self.trusts)

    @property
    def default_domain_id(self) -> str:
        return self.options.default_domain_id

    def project_gid(self, project_id: str) -> int:
        """The POSIX group number of a project (404 when there is no such project)."""
        with self.store.read() as tx:
            gid = ProjectGroups.gid(tx, project_id)
        if gid is None:
            raise NotFound(f"Could not find project: {project_id}.")
        return gid

    def project_access(self, project_id: str) -> ProjectAccessRecord | None:
        """Who may log into the project's VMs, with their keys, the project's group and
        sudo rules (None when there is no such project)."""
        with self.store.read() as tx:
            return project_access(tx, self.backend, self.sudo.store, project_id)

    def prepare(self) -> None:
        """Migrate the schema and make sure keys and the revision row exist."""
        upgrade(self.store.db, "identity")
        self.store.ensure_revision_row()
        self.keys.ensure()
        self.credential_keys.ensure()
        self.users.ensure_posix_accounts()
