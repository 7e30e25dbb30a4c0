"""The accounts service's process (``labs serve accounts``): accounts over the identity
service of the same database."""

from __future__ import annotations

from starlette.types import ASGIApp

from labs.accounts.api import build_api
from labs.accounts.config import AccountsOptions
from labs.accounts.service import AccountsService
from labs.common.runner import Site, compose
from labs.identity.service import IdentityService
from labs.wiring.identity import open_identity


def open_accounts(site: Site, identity: IdentityService) -> AccountsService:
    return AccountsService(identity, site.config.group(AccountsOptions))


def create_app() -> ASGIApp:
    """uvicorn's factory in each worker: the site comes from the environment."""
    site = Site.open()
    identity = open_identity(site)
    return compose({"/accounts": build_api(open_accounts(site, identity),
                                           identity.tokens).app()})
