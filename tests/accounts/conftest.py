"""An identity and accounts API in-process, over both database engines."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from labs.accounts.api import build_api
from labs.accounts.config import AccountsOptions
from labs.accounts.service import AccountsService
from labs.common.runner import compose
from labs.identity.api import build_api as identity_api
from labs.identity.service import IdentityService
from tests.conftest import Cloud


@dataclass
class AccountsCloud(Cloud):
    accounts: AccountsService | None = None

    def url(self, user_id: str, rest: str = "") -> str:
        return f"/accounts/v1/accounts/{user_id}{rest}"


def accounts_cloud(identity: IdentityService, options: AccountsOptions
                   ) -> Iterator[AccountsCloud]:
    accounts = AccountsService(identity, options)
    app = compose({"/identity": identity_api(identity).app(),
                   "/accounts": build_api(accounts, identity.tokens).app()})
    with TestClient(app, base_url="http://testserver") as client:
        yield AccountsCloud(identity, client, accounts=accounts)


@pytest.fixture
def acloud(identity: IdentityService) -> Iterator[AccountsCloud]:
    yield from accounts_cloud(identity, AccountsOptions(self_service=True))


@pytest.fixture
def closed_cloud(identity: IdentityService) -> Iterator[AccountsCloud]:
    """Sign-up off (the default)."""
    yield from accounts_cloud(identity, AccountsOptions())
