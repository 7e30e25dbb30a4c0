"""How accounts and keys look on the wire."""

from __future__ import annotations

from typing import Any

from labs.accounts.keys import PublicKey
from labs.common.http import Call
from labs.identity.backends.base import UserRecord

Body = dict[str, Any]


def account(call: Call, user: UserRecord) -> Body:
    body: Body = {"id": user.id, "name": user.name, "domain_id": user.domain_id,
                  "enabled": user.enabled, "shell_name": None, "uid_number": None,
                  "gid_number": None, "home_directory": None, "login_shell": None,
                  "links": {"self": call.url(f"/v1/accounts/{user.id}")}}
    if user.posix is not None:
        body.update(shell_name=user.posix.shell_name, uid_number=user.posix.uid_number,
                    gid_number=user.posix.gid_number,
                    home_directory=user.posix.home_directory,
                    login_shell=user.posix.login_shell)
    return body


def key(call: Call, user_id: str, public_key: PublicKey) -> Body:
    return {"fingerprint": public_key.fingerprint, "type": public_key.type,
            "bits": public_key.bits, "comment": public_key.comment,
            "public_key": public_key.line,
            "links": {"self": call.url(f"/v1/accounts/{user_id}/keys/"
                                       f"{public_key.fingerprint}")}}
