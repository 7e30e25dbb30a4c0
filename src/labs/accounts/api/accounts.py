"""Accounts: show and change your own (admins: any), sign up, version discovery."""

from __future__ import annotations

from typing import Any

from labs.accounts import schemas
from labs.accounts.api import views
from labs.accounts.service import AccountsService, SignUp
from labs.common.errors import BadRequest
from labs.common.http import Api, Call, Reply

VERSION = {"id": "v1.0", "status": "CURRENT"}


def register(api: Api, accounts: AccountsService) -> None:
    @api.get("/", public=True)
    def list_versions(call: Call) -> Reply:
        """The versions of the accounts API."""
        return Reply({"versions": [{**VERSION, "links": [
            {"rel": "self", "href": call.url("/v1/")}]}]}, status=300)

    @api.get("/v1", public=True)
    @api.get("/v1/", public=True)
    def show_version(call: Call) -> dict[str, Any]:
        """Accounts v1."""
        return {"version": {**VERSION, "links": [{"rel": "self", "href": call.url("/v1/")}]}}

    @api.get("/v1/openapi.json", public=True)
    def openapi(_call: Call) -> dict[str, Any]:
        """This API as an OpenAPI document."""
        return api.openapi()

    @api.get("/v1/accounts/{user_id}")
    def show_account(call: Call) -> dict[str, Any]:
        """Show an account: shell name, uid and gid, home, login shell."""
        user_id = call.params["user_id"]
        call.enforce("accounts:get_account", {"user_id": user_id})
        return {"account": views.account(call, accounts.get_account(user_id))}

    @api.patch("/v1/accounts/{user_id}", schema=schemas.account_update)
    def update_account(call: Call) -> dict[str, Any]:
        """Change the login shell; an admin may disable or enable the account."""
        user_id = call.params["user_id"]
        call.enforce("accounts:update_account", {"user_id": user_id})
        body = call.body["account"]
        if "shell_name" in body:
            raise BadRequest("shell_name cannot be changed")
        if "enabled" in body:
            call.enforce("accounts:set_enabled", {"user_id": user_id})
        user = accounts.get_account(user_id)
        if "login_shell" in body:
            user = accounts.set_login_shell(user_id, body["login_shell"])
        if "enabled" in body:
            user = accounts.set_enabled(user_id, body["enabled"])
        return {"account": views.account(call, user)}

    @api.post("/v1/signup", status=201, schema=schemas.signup, public=True)
    def signup(call: Call) -> dict[str, Any]:
        """Sign up: a new user and account, when the cloud allows self-service."""
        body = call.body["account"]
        user = accounts.signup(SignUp(body["name"], body["password"], body.get("shell_name"),
                                      body.get("email")))
        return {"account": views.account(call, user)}
