"""The accounts HTTP API, served under ``/accounts``: Labs accounts and their ssh keys."""

from __future__ import annotations

from labs.accounts.api import accounts, keys
from labs.accounts.policy import RULES
from labs.accounts.service import AccountsService
from labs.common.context import Authenticator
from labs.common.http import Api, keystone_error
from labs.common.policy import Policy


def build_api(service: AccountsService, authenticator: Authenticator) -> Api:
    api = Api("accounts", render_error=keystone_error)
    api.authenticator = authenticator
    api.policy = Policy(RULES)
    for module in (accounts, keys):
        module.register(api, service)
    return api
