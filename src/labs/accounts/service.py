"""The accounts service: a person's Labs account (shell name, uid and gid, login shell,
ssh keys) over the identity service, which owns the users and their backend."""

from __future__ import annotations

from dataclasses import dataclass

from labs.accounts.config import AccountsOptions
from labs.accounts.keys import PublicKey, describe, parse_public_key
from labs.common.errors import BadRequest, Conflict, Forbidden, NotFound
from labs.identity.backends.base import UserRecord
from labs.identity.posix import LOGIN_SHELLS, hold_user
from labs.identity.service import IdentityService


@dataclass(frozen=True)
class SignUp:
    name: str
    password: str
    shell_name: str | None = None
    email: str | None = None


class AccountsService:
    def __init__(self, identity: IdentityService, options: AccountsOptions) -> None:
        self.identity = identity
        self.options = options

    @property
    def signup_domain_id(self) -> str:
        return self.options.signup_domain_id or self.identity.default_domain_id

    # -- accounts ------------------------------------------------------------
    def get_account(self, user_id: str) -> UserRecord:
        return self.identity.users.get_user(user_id)

    def set_login_shell(self, user_id: str, login_shell: str) -> UserRecord:
        if login_shell not in LOGIN_SHELLS:
            raise BadRequest(f"login_shell must be one of: {', '.join(LOGIN_SHELLS)}.")
        return self.identity.users.set_login_shell(user_id, login_shell)

    def set_enabled(self, user_id: str, enabled: bool) -> UserRecord:
        """Disable (tokens revoked, the account's keys no longer let it in) or enable."""
        return self.identity.users.update_user(user_id, {"enabled": enabled})

    def signup(self, request: SignUp) -> UserRecord:
        """A new user and account with a password, in the sign-up domain, no project."""
        if not self.options.self_service:
            raise Forbidden("Self-service sign-up is not enabled on this cloud; ask an "
                            "administrator for an account.")
        fields: dict[str, object] = {"name": request.name, "password": request.password,
                                     "domain_id": self.signup_domain_id}
        if request.shell_name is not None:
            fields["shell_name"] = request.shell_name
        if request.email is not None:
            fields["email"] = request.email
        users = self.identity.users
        # anyone may ask: the password's hash runs in the bounded pool logins use, so a
        # storm of sign-ups gets 503s instead of every core and request thread
        return users.passwords.run(lambda: users.create_user(fields, self.signup_domain_id))

    # -- ssh keys ------------------------------------------------------------
    def list_keys(self, user_id: str) -> list[PublicKey]:
        with self.identity.store.read() as tx:
            return [describe(line) for line in self.identity.backend.list_ssh_keys(tx, user_id)]

    def add_key(self, user_id: str, text: str) -> PublicKey:
        key = parse_public_key(text)
        with self.identity.store.write() as tx:
            hold_user(tx, user_id)  # the bound holds under concurrent adds
            have = self.identity.backend.list_ssh_keys(tx, user_id)
            if any(describe(line).fingerprint == key.fingerprint for line in have):
                raise Conflict(f"This key is already on the account (SHA256:"
                               f"{key.fingerprint}).")
            if len(have) >= self.options.max_keys:
                raise Conflict(f"An account holds at most {self.options.max_keys} keys; "
                               "remove one first.")
            self.identity.backend.add_ssh_key(tx, user_id, key.line)
        return key

    def remove_key(self, user_id: str, fingerprint: str) -> None:
        wanted = fingerprint.removeprefix("SHA256:")
        with self.identity.store.write() as tx:
            for line in self.identity.backend.list_ssh_keys(tx, user_id):
                if describe(line).fingerprint == wanted:
                    self.identity.backend.remove_ssh_key(tx, user_id, line)
                    return
        raise NotFound(f"Could not find ssh key: {fingerprint}.")

    def authorized_keys(self, shell_name: str) -> list[str]:
        """The keys that let ``shell_name`` into a VM: none for a disabled account, nor
        for one of a disabled domain (identity gives neither a token)."""
        with self.identity.store.read() as tx:
            try:
                user = self.identity.backend.find_user_by_shell_name(tx, shell_name)
            except NotFound:
                return []
            if not user.enabled:
                return []
            keys = self.identity.backend.list_ssh_keys(tx, user.id)
        try:
            domain_enabled = self.identity.resources.get_domain(user.domain_id).enabled
        except NotFound:
            return []
        return keys if domain_enabled else []
