"""Credentials, EC2 credentials and EC2 tokens: ``/v3/credentials``,
``/v3/users/{user_id}/credentials/OS-EC2`` and ``/v3/ec2tokens``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import BadRequest, Forbidden, Unauthorized
from labs.common.http import Api, Call, Reply, query_strings
from labs.identity import ec2_signature, schemas
from labs.identity.api import views
from labs.identity.credentials import CredentialView
from labs.identity.resources import utcnow
from labs.identity.service import IdentityService

#: How long a signed request stays good (Keystone's [credential] auth_ttl, 15 minutes).
AUTH_TTL = timedelta(minutes=15)


def credential(call: Call, row: CredentialView) -> dict[str, Any]:
    return {"id": row.id, "user_id": row.user_id, "project_id": row.project_id,
            "type": row.type, "blob": row.blob,
            "links": views.links(call, f"/v3/credentials/{row.id}")}


def ec2_credential(call: Call, row: CredentialView) -> dict[str, Any]:
    blob = row.ec2_blob()
    return {"user_id": row.user_id, "tenant_id": row.project_id, "access": blob.get("access"),
            "secret": blob.get("secret"), "trust_id": blob.get("trust_id"),
            "links": views.links(call, f"/v3/users/{row.user_id}/credentials/OS-EC2/"
                                       f"{blob.get('access')}")}


def check_timestamp(credentials: dict[str, Any]) -> None:
    """A signed request older than ``AUTH_TTL`` is refused (as Keystone), and one dated
    more than that ahead (as AWS)."""
    params, headers = credentials.get("params") or {}, credentials.get("headers") or {}
    raw = params.get("Timestamp") or headers.get("X-Amz-Date") or params.get("X-Amz-Date")
    if not raw:
        return
    try:
        moment = datetime.fromisoformat(str(raw))
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):  # overflow: a zone moving it past year 1 or 9999
        raise Unauthorized(f"Credential timestamp is invalid: {raw!r}.") from None
    now = utcnow()
    if now - AUTH_TTL > moment:
        raise Unauthorized("Credential is expired.")
    if moment - AUTH_TTL > now:  # a request signed for the far future could be replayed
        raise Unauthorized(f"Credential timestamp is in the future: {raw!r}.")


def register(api: Api, identity: IdentityService) -> None:
    creds = identity.credentials

    def check_delegation(ctx: RequestContext, verb: str = "create") -> None:
        """A credential made, rewritten or read (its secret is a token with every role
        of its user) from a delegated token would escape the delegation's limits."""
        if ctx.application_credential_id is not None:
            raise Forbidden(f"An application credential cannot {verb} credentials.")
        if identity.tokens.validate(ctx.token, ctx.revision).trust is not None:
            raise Forbidden(f"A trust-scoped token cannot {verb} credentials.")

    # -- /v3/credentials -----------------------------------------------------
    @api.post("/v3/credentials", status=201, schema=schemas.credential_create)
    def create_credential(call: Call) -> dict[str, Any]:
        """Create a credential (an ec2 one is named by the hash of its access key)."""
        fields = call.body["credential"]
        ctx = call.enforce("identity:create_credential", {"user_id": fields["user_id"]})
        check_delegation(ctx)
        return {"credential": credential(call, creds.create(fields))}

    @api.get("/v3/credentials", query=query_strings("user_id", "type"))
    def list_credentials(call: Call) -> dict[str, Any]:
        """List credentials (filters: user_id, type); a user sees their own."""
        ctx = call.enforce("identity:list_credentials")
        check_delegation(ctx, "read")

        def may_see(owner: str | None) -> bool:
            assert api.policy is not None
            return api.policy.allowed("identity:get_credential", ctx, {"user_id": owner})

        user_id = call.query.get("user_id")
        if user_id is None and not may_see(None):  # not everyone's: the caller's own
            user_id = ctx.user_id
        rows = [row for row in creds.list_credentials(user_id, call.query.get("type"))
                if may_see(row.user_id)]
        return views.collection(call, "credentials", [credential(call, r) for r in rows])

    @api.get("/v3/credentials/{credential_id}")
    def show_credential(call: Call) -> dict[str, Any]:
        """Show a credential and its blob."""
        row = creds.get(call.params["credential_id"])
        check_delegation(call.enforce("identity:get_credential", {"user_id": row.user_id}),
                         "read")
        return {"credential": credential(call, row)}

    @api.patch("/v3/credentials/{credential_id}", schema=schemas.credential_update)
    def update_credential(call: Call) -> dict[str, Any]:
        """Update a credential (never the access key of an ec2 one)."""
        row = creds.get(call.params["credential_id"])
        ctx = call.enforce("identity:update_credential", {"user_id": row.user_id})
        check_delegation(ctx, "change")  # a new secret or project: a credential made anew
        changes = call.body["credential"]
        if "user_id" in changes:  # the new owner must be one the caller may give it to
            call.enforce("identity:update_credential", {"user_id": changes["user_id"]})
        return {"credential": credential(call, creds.update(row.id, changes))}

    @api.delete("/v3/credentials/{credential_id}")
    def delete_credential(call: Call) -> None:
        """Delete a credential."""
        row = creds.get(call.params["credential_id"])
        call.enforce("identity:delete_credential", {"user_id": row.user_id})
        creds.delete(row.id)

    # -- /v3/users/{user_id}/credentials/OS-EC2 ------------------------------
    base = "/v3/users/{user_id}/credentials/OS-EC2"

    @api.post(base, status=201, schema=schemas.ec2_credential_create)
    def create_ec2_credential(call: Call) -> dict[str, Any]:
        """Create an EC2 credential (access and secret) for a project."""
        ctx = call.enforce("identity:ec2_create_credential",
                           {"user_id": call.params["user_id"]})
        check_delegation(ctx)
        row = creds.create_ec2(call.params["user_id"], call.body["tenant_id"], None)
        return {"credential": ec2_credential(call, row)}

    @api.get(base)
    def list_ec2_credentials(call: Call) -> dict[str, Any]:
        """A user's EC2 credentials."""
        check_delegation(call.enforce("identity:ec2_list_credentials",
                                      {"user_id": call.params["user_id"]}), "read")
        rows = creds.list_ec2(call.params["user_id"])
        return views.collection(call, "credentials", [ec2_credential(call, r) for r in rows])

    @api.get(base + "/{credential_id}")
    def show_ec2_credential(call: Call) -> dict[str, Any]:
        """Show an EC2 credential, named by its access key."""
        check_delegation(call.enforce("identity:ec2_get_credential",
                                      {"user_id": call.params["user_id"]}), "read")
        row = creds.get_ec2(call.params["user_id"], call.params["credential_id"])
        return {"credential": ec2_credential(call, row)}

    @api.delete(base + "/{credential_id}")
    def delete_ec2_credential(call: Call) -> None:
        """Delete an EC2 credential, named by its access key."""
        call.enforce("identity:ec2_delete_credential", {"user_id": call.params["user_id"]})
        creds.delete_ec2(call.params["user_id"], call.params["credential_id"])

    # -- /v3/ec2tokens -------------------------------------------------------
    @api.post("/v3/ec2tokens", schema=schemas.ec2_token, public=True)
    def ec2_token(call: Call) -> Reply:
        """A project token for the owner of the EC2 credential that signed a request."""
        body = call.body
        signed = body.get("credentials", body.get("ec2Credentials"))
        if signed is None:
            raise BadRequest("Expecting to find credentials in request body.")
        if not signed.get("access"):
            raise Unauthorized("EC2 signature not supplied.")
        found = creds.find_ec2(signed["access"])
        if found is None:
            raise Unauthorized("EC2 access key not found.")
        secret = found.ec2_blob().get("secret")
        try:
            good = isinstance(secret, str) and ec2_signature.matches(secret, signed)
        except ec2_signature.SignatureError as exc:
            raise Unauthorized(f"Invalid EC2 signature: {exc}") from None
        if not good:
            raise Unauthorized("Invalid EC2 signature." if signed.get("signature")
                               else "EC2 signature not supplied.")
        check_timestamp(signed)
        if not found.project_id:
            raise Unauthorized("The EC2 credential has no project.")
        held = identity.tokens.issue_for(found.user_id, found.project_id, "ec2credential")
        return Reply(views.token(held, call.flag("nocatalog")),
                     headers={"X-Subject-Token": held.token})
