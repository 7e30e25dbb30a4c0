"""Protection rows of credentials, EC2 credentials, EC2 tokens and trusts.

Merged into the matrix of ``test_protection``. What they point at: a
credential and an EC2 credential per caller (``{vcred:<caller>}``,
``{ec2:<caller>}``; ``self`` is the caller's own) and one trust from ``ma``
to ``ra`` on project A delegating ``member`` (``{trust}``); ``new:`` makes a
fresh one.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from keystoneclient.contrib.ec2.utils import Ec2Signer

if TYPE_CHECKING:
    from tests.identity.test_protection import Row, World

ADMIN, PA, MA, RA, MB, ANON = "admin", "pa", "ma", "ra", "mb", "anon"
TOKEN_HOLDERS = frozenset({ADMIN, PA, MA, RA, MB})
#: the role each caller holds on the project their token is scoped to
OWN_ROLE = {ADMIN: "admin", PA: "projectadmin", MA: "member", RA: "reader", MB: "member"}

CRED = "/v3/credentials/{credential_id}"
EC2S = "/v3/users/{user_id}/credentials/OS-EC2"
EC2 = EC2S + "/{credential_id}"
TRUSTS = "/v3/OS-TRUST/trusts"
TRUST = TRUSTS + "/{trust_id}"
TRUST_ROLE = TRUST + "/roles/{role_id}"


def signed_request(access: str, secret: str) -> dict[str, Any]:
    """An EC2 v4 request signed now with keystoneclient's signer, as ``ec2tokens`` takes it."""
    now = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    credentials: dict[str, Any] = {
        "access": access, "host": "ec2.example:8773", "verb": "GET", "path": "/",
        "params": {"Action": "DescribeInstances"},
        "headers": {"Host": "ec2.example:8773", "X-Amz-Date": now,
                    "Authorization": f"AWS4-HMAC-SHA256 Credential={access}/{now[:8]}/"
                                     "RegionOne/ec2/aws4_request, SignedHeaders=host;x-amz-date, "
                                     "Signature=x"},
        "body_hash": hashlib.sha256(b"").hexdigest()}
    credentials["signature"] = Ec2Signer(secret).generate(json.loads(json.dumps(credentials)))
    return credentials


def rows(row: type[Row]) -> tuple[Row, ...]:
    def cred_body(owner: str | None) -> Any:
        return lambda w, c: {"credential": {"user_id": w.users[owner or w.who(c)],
                                            "type": "totp", "blob": uuid.uuid4().hex}}

    def ec2_body(owner: str | None) -> Any:
        from tests.identity.test_protection import LOGINS
        return lambda w, c: {"tenant_id": w.projects[LOGINS[owner or w.who(c)][2]]}

    def trust_body(trustor: str | None) -> Any:
        from tests.identity.test_protection import LOGINS

        def body(w: World, c: str) -> Any:
            who = trustor or w.who(c)
            return {"trust": {"trustor_user_id": w.users[who], "trustee_user_id": w.users[MB],
                              "impersonation": False,
                              "project_id": w.projects[LOGINS[who][2]],
                              "roles": [{"name": OWN_ROLE[who]}]}}
        return body

    ma_only, trust_parties = frozenset({ADMIN, MA}), frozenset({ADMIN, MA, RA})
    return (
        # -- credentials: the owner's -----------------------------------------------
        row("POST", "/v3/credentials", "/v3/credentials", TOKEN_HOLDERS, body=cred_body(None)),
        row("POST", "/v3/credentials", "/v3/credentials", ma_only, body=cred_body(MA)),
        row("GET", "/v3/credentials", "/v3/credentials", TOKEN_HOLDERS),
        row("GET", "/v3/credentials", "/v3/credentials?user_id={ma}&type=totp", TOKEN_HOLDERS),
        row("GET", CRED, "/v3/credentials/{vcred:self}", TOKEN_HOLDERS),
        row("GET", CRED, "/v3/credentials/{vcred:ma}", ma_only),
        row("PATCH", CRED, "/v3/credentials/{vcred:self}", TOKEN_HOLDERS,
            body=lambda _w, _c: {"credential": {"blob": "changed"}}),
        row("PATCH", CRED, "/v3/credentials/{vcred:ma}", ma_only,
            body=lambda _w, _c: {"credential": {"blob": "changed"}}),
        row("DELETE", CRED, "/v3/credentials/{new:vcred:self}", TOKEN_HOLDERS),
        row("DELETE", CRED, "/v3/credentials/{vcred:ma|new:vcred:ma}", ma_only),
        # -- EC2 credentials: the owner's ---------------------------------------------
        row("POST", EC2S, "/v3/users/{self}/credentials/OS-EC2", TOKEN_HOLDERS,
            body=ec2_body(None)),
        row("POST", EC2S, "/v3/users/{ma}/credentials/OS-EC2", ma_only, body=ec2_body(MA)),
        row("GET", EC2S, "/v3/users/{self}/credentials/OS-EC2", TOKEN_HOLDERS),
        row("GET", EC2S, "/v3/users/{ma}/credentials/OS-EC2", ma_only),
        row("GET", EC2, "/v3/users/{self}/credentials/OS-EC2/{ec2:self}", TOKEN_HOLDERS),
        row("GET", EC2, "/v3/users/{ma}/credentials/OS-EC2/{ec2:ma}", ma_only),
        row("DELETE", EC2, "/v3/users/{self}/credentials/OS-EC2/{new:ec2:self}", TOKEN_HOLDERS),
        row("DELETE", EC2, "/v3/users/{ma}/credentials/OS-EC2/{ec2:ma|new:ec2:ma}", ma_only),
        # -- EC2 tokens: the signature is the credential ------------------------------
        row("POST", "/v3/ec2tokens", "/v3/ec2tokens", TOKEN_HOLDERS | {ANON},
            body=lambda w, _c: {"credentials": signed_request(*ec2_keys(w, MA))}),
        # -- trusts: the trustor's; the trustee sees them -----------------------------
        row("POST", TRUSTS, TRUSTS, TOKEN_HOLDERS, body=trust_body(None)),
        row("POST", TRUSTS, TRUSTS, frozenset({MA}), body=trust_body(MA)),
        row("GET", TRUSTS, TRUSTS, frozenset({ADMIN})),
        row("GET", TRUSTS, TRUSTS + "?trustor_user_id={self}", TOKEN_HOLDERS),
        row("GET", TRUSTS, TRUSTS + "?trustor_user_id={ma}", ma_only),
        row("GET", TRUSTS, TRUSTS + "?trustee_user_id={ra}", frozenset({ADMIN, RA})),
        row("GET", TRUST, TRUSTS + "/{trust}", trust_parties),
        row("GET", TRUST + "/roles", TRUSTS + "/{trust}/roles", trust_parties),
        row("GET", TRUST_ROLE, TRUSTS + "/{trust}/roles/{role:member}", trust_parties),
        row("HEAD", TRUST_ROLE, TRUSTS + "/{trust}/roles/{role:member}", trust_parties),
        row("DELETE", TRUST, TRUSTS + "/{trust|new:trust}", ma_only),
    )


def resolve(world: World, key: str, me: str) -> str | None:
    """The id a delegation placeholder stands for, or None when it is not one of these."""
    kind, _, arg = key.partition(":")
    fresh = kind == "new"
    if fresh:
        kind, _, arg = arg.partition(":")
    owner = me if arg == "self" else arg
    identity = world.identity
    if kind == "vcred":
        def make() -> str:
            return identity.credentials.create({"user_id": world.users[owner], "type": "totp",
                                                "blob": "protection"}).id
    elif kind == "ec2":
        def make() -> str:
            from tests.identity.test_protection import LOGINS
            return str(identity.credentials.create_ec2(
                world.users[owner], world.projects[LOGINS[owner][2]], None).ec2_blob()["access"])
    elif kind == "trust":
        def make() -> str:
            return identity.trusts.create(world.users[MA], {
                "trustor_user_id": world.users[MA], "trustee_user_id": world.users[RA],
                "impersonation": False, "project_id": world.projects["a"],
                "roles": [{"name": "member"}]}).id
    else:
        return None
    if fresh:
        return make()
    key = f"{kind}:{owner}"
    if key not in world.extra:
        world.extra[key] = make()
    return world.extra[key]


def ec2_keys(world: World, owner: str) -> tuple[str, str]:
    """The access key and secret of ``owner``'s EC2 credential."""
    access = resolve(world, f"ec2:{owner}", owner)
    assert access is not None
    found = world.identity.credentials.find_ec2(access)
    assert found is not None
    return access, str(found.ec2_blob()["secret"])
