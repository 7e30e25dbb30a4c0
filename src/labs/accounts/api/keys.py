"""An account's ssh public keys."""

from __future__ import annotations

from typing import Any

from labs.accounts import schemas
from labs.accounts.api import views
from labs.accounts.service import AccountsService
from labs.common.http import Api, Call


def register(api: Api, accounts: AccountsService) -> None:
    @api.get("/v1/accounts/{user_id}/keys")
    def list_keys(call: Call) -> dict[str, Any]:
        """The account's ssh public keys."""
        user_id = call.params["user_id"]
        call.enforce("accounts:list_keys", {"user_id": user_id})
        return {"keys": [views.key(call, user_id, k) for k in accounts.list_keys(user_id)]}

    @api.post("/v1/accounts/{user_id}/keys", status=201, schema=schemas.key_create)
    def add_key(call: Call) -> dict[str, Any]:
        """Add one ssh public key (never a private key)."""
        user_id = call.params["user_id"]
        call.enforce("accounts:add_key", {"user_id": user_id})
        key = accounts.add_key(user_id, call.body["key"]["public_key"])
        return {"key": views.key(call, user_id, key)}

    @api.delete("/v1/accounts/{user_id}/keys/{fingerprint}")
    def remove_key(call: Call) -> None:
        """Remove a key by its SHA256 fingerprint (URL-safe base64)."""
        user_id = call.params["user_id"]
        call.enforce("accounts:remove_key", {"user_id": user_id})
        accounts.remove_key(user_id, call.params["fingerprint"])

    @api.get("/v1/authorized_keys/{shell_name}")
    def authorized_keys(call: Call) -> dict[str, Any]:
        """The keys that let a shell name into a VM (none for a disabled or unknown
        account), for a VM's AuthorizedKeysCommand holding an admin's credential."""
        call.enforce("accounts:authorized_keys")
        return {"keys": accounts.authorized_keys(call.params["shell_name"])}
