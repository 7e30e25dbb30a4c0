"""Accounts options (section ``[accounts]`` of labs.conf, or ``LABS_ACCOUNTS_*``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from labs.common.config import option


@dataclass(frozen=True)
class AccountsOptions:
    section: ClassVar[str] = "accounts"
    self_service: bool = option(False, "anyone may sign up (POST /accounts/v1/signup) for an "
                                "account without a project; off: only admins create accounts")
    signup_domain_id: str = option("", "the domain of signed-up users; empty: [identity] "
                                   "default_domain_id")
    max_keys: int = option(50, "ssh public keys one account may hold")
