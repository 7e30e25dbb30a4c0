"""The identity service's process (``labs serve identity``), and identity for the others:
the service over the site's database, with users and groups in the accounts' directory
(``[directory] backend``: ldap, or auto with a directory) or in SQL."""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.types import ASGIApp

from labs.common.config import ConfigError
from labs.common.db import Database
from labs.common.periodic import Periodic
from labs.common.runner import Site, compose, run_workers
from labs.directory.config import DirectoryOptions
from labs.directory.connection import Directory
from labs.directory.slapd import SlapdError
from labs.identity.api import build_api
from labs.identity.backends.base import IdentityBackend
from labs.identity.backends.ldap import LdapIdentityBackend
from labs.identity.backends.sql import SqlIdentityBackend
from labs.identity.bootstrap import bootstrap
from labs.identity.config import IdentityOptions
from labs.identity.project_groups import DirectoryProjectGroups
from labs.identity.service import IdentityService
from labs.identity.store import IdentityStore
from labs.identity.sudo.ldap import LdapSudoRuleStore
from labs.identity.sudo.sql import SqlSudoRuleStore
from labs.wiring.directory import SQL, choose, directory_address, start_directory

log = logging.getLogger("labs")
#: How often the identity server puts the directory's project groups right.
RECONCILE_SECONDS = 60.0


def new_identity(db: Database, options: IdentityOptions, data_dir: Path,
                 backend: IdentityBackend | None = None) -> IdentityService:
    """Identity over `db` (users and groups too, unless `backend` is given); its Fernet
    keys under `data_dir` unless configured. Each new project gets its default sudo
    rules. With the directory's backend, the sudo rules are ``sudoRole`` entries and each
    project has its posix group there, kept in step with its members."""
    if not isinstance(backend, LdapIdentityBackend):
        return IdentityService(db, options, data_dir,
                               backend or SqlIdentityBackend(options.password_hash_rounds),
                               sudo_rules=SqlSudoRuleStore())
    store = IdentityStore(db)
    groups = DirectoryProjectGroups(backend.directory, backend, store, backend.undo)
    return IdentityService(db, options, data_dir, backend,
                           sudo_rules=LdapSudoRuleStore(backend.directory, backend.undo),
                           membership=groups, store=store)


def identity_backend(site: Site, options: IdentityOptions) -> IdentityBackend:
    """Where this site keeps users, passwords and groups, as ``[directory]`` says."""
    if choose(site.config.group(DirectoryOptions), site.data_dir) == SQL:
        return SqlIdentityBackend(options.password_hash_rounds)
    address = directory_address(site)
    if address is None:
        raise ConfigError("the accounts' directory (the private slapd of this data dir) "
                          "is not running: start `labs serve identity` first (or `labs "
                          "up`), or name a directory every host reaches with [directory] "
                          "url")
    return LdapIdentityBackend(Directory(address.url, address.admin_dn,
                                         address.admin_password, address.base_dn),
                               options.password_hash_rounds)


def directory_reconcile(identity: IdentityService) -> Periodic | None:
    """With the directory's backend, its project groups put right every
    ``RECONCILE_SECONDS`` (after an outage, or an edit behind Labs' back; logged)."""
    groups = identity.membership
    if not isinstance(groups, DirectoryProjectGroups):
        return None

    def reconcile() -> None:
        groups.reconcile()  # logs what it repaired
    rounds = Periodic("directory-groups", RECONCILE_SECONDS, reconcile,
                      what="directory groups reconcile", run_at_start=True, traceback=False)
    rounds.start()
    return rounds


def open_identity(site: Site) -> IdentityService:
    options = site.config.group(IdentityOptions)
    return new_identity(site.database(), options, site.data_dir,
                        identity_backend(site, options))


def create_app() -> ASGIApp:
    """uvicorn's factory in each worker: the site comes from the environment."""
    site = Site.open()
    return compose({"/identity": build_api(open_identity(site)).app()})


def serve_identity(site: Site, bind: str, workers: int) -> int:
    """``labs serve identity``: the accounts' directory of ``[directory]`` (the private
    slapd in the data dir runs as long as the workers do), identity's tables and first
    accounts, then the workers; the exit status."""
    try:
        directory = start_directory(site)
    except SlapdError as exc:
        log.error("cannot start the accounts' directory: %s ([directory] backend = sql "
                  "keeps the accounts in SQL)", exc)
        return 2
    try:
        identity = open_identity(site)
        identity.prepare()
        bootstrap(identity, site.public_url(bind), site.data_dir)
        identity.store.db.dispose()
        reconcile = directory_reconcile(identity)
        try:
            run_workers(site, "identity", "labs.wiring.identity:create_app", bind, workers)
        finally:
            if reconcile is not None:
                reconcile.stop()
    finally:
        directory.stop()
    return 0
