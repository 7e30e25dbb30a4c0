"""The accounts API as the tests serve it."""

from __future__ import annotations

from starlette.types import ASGIApp

from labs.accounts.api import sudo_rules
from labs.accounts.sudo.policy import SUDO_RULES
from labs.accounts.sudo.service import SudoService
from labs.accounts.sudo.sql import SqlSudoRuleStore
from labs.common.http import Api, keystone_error
from labs.common.policy import Policy
from labs.common.runner import compose
from labs.identity.service import IdentityService


def accounts_api(identity: IdentityService) -> Api:
    api = Api("accounts", render_error=keystone_error)
    api.authenticator = identity.tokens
    api.policy = Policy(SUDO_RULES)
    sudo_rules.register(api, SudoService(identity.store, SqlSudoRuleStore()))
    return api


def accounts_app(identity: IdentityService) -> ASGIApp:
    return compose({"/accounts": accounts_api(identity).app()})
