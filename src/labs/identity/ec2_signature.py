"""AWS request signatures (versions 0, 1, 2 and 4), as Keystone checks EC2 credentials.

``signature(secret, credentials)`` computes what a client holding ``secret``
would have sent for the request described by ``credentials`` (the body of
``POST /v3/ec2tokens``: ``verb``, ``host``, ``path``, ``params``, ``headers``,
``body_hash``), following keystoneclient's ``Ec2Signer``: the algorithm the
EC2 and S3 front ends (and botocore) sign with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

V4_ALGORITHM = "AWS4-HMAC-SHA256"


class SignatureError(ValueError):
    """The credentials do not describe a request we can sign."""


def _utf8(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def _str_map(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SignatureError(f"{what} must be an object.")
    return {str(k): v for k, v in value.items()}


def canonical_query(params: Mapping[str, Any]) -> str:
    """Sorted, percent-encoded ``key=value`` pairs joined by ``&``."""
    return "&".join(urllib.parse.quote(key, safe="") + "="
                    + urllib.parse.quote(_utf8(params[key]), safe="-_~")
                    for key in sorted(params))


def _b64_hmac(secret: str, message: bytes, digest: Any) -> str:
    return base64.b64encode(hmac.new(_utf8(secret), message, digest).digest()).decode()


def _v0(secret: str, params: Mapping[str, Any]) -> str:
    try:
        message = _utf8(str(params["Action"]) + str(params["Timestamp"]))
    except KeyError as exc:
        raise SignatureError(f"Signature version 0 needs the {exc} parameter.") from None
    return _b64_hmac(secret, message, hashlib.sha1)


def _v1(secret: str, params: Mapping[str, Any]) -> str:
    message = b"".join(_utf8(key) + _utf8(params[key]) for key in sorted(params, key=str.lower))
    return _b64_hmac(secret, message, hashlib.sha1)


def _v2(secret: str, params: dict[str, Any], verb: str, host: str, path: str) -> str:
    method = params.get("SignatureMethod", "HmacSHA256")
    if method not in ("HmacSHA256", "HmacSHA1"):
        raise SignatureError(f"Unknown SignatureMethod {method!r}.")
    params = {**params, "SignatureMethod": method}
    string_to_sign = f"{verb}\n{host}\n{path}\n{canonical_query(params)}"
    digest = hashlib.sha256 if method == "HmacSHA256" else hashlib.sha1
    return _b64_hmac(secret, string_to_sign.encode("utf-8"), digest)


def _sign(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The version 4 key derived for one day, region and service."""
    key = _sign(b"AWS4" + _utf8(secret), date)
    return _sign(_sign(_sign(key, region), service), "aws4_request")


def _v4(secret: str, params: dict[str, Any], verb: str, path: str,
        headers: dict[str, Any], body_hash: str) -> str:
    authorization = headers.get("Authorization")

    def auth_param(name: str) -> str:
        if authorization is not None:
            return str(authorization).partition(f"{name}=")[2].split(",")[0]
        return str(params.get(f"X-Amz-{name}") or "")

    lower = {k.lower().strip(): str(v).strip() for k, v in headers.items()}
    strip_port = re.match(r"Boto/2\.[0-9]\.[0-2]", lower.get("user-agent", ""))
    signed_headers = auth_param("SignedHeaders")
    lines = []
    for name in signed_headers.split(";"):
        if name not in lower:
            continue
        value = lower[name].split(":")[0] if name == "host" and strip_port else lower[name]
        lines.append(f"{name}:{value}")
    query = "" if verb.upper() == "POST" else canonical_query(
        {k: v for k, v in params.items() if k != "X-Amz-Signature"})
    canonical_request = "\n".join((verb.upper(), path, query, "\n".join(lines) + "\n",
                                   signed_headers, body_hash))
    scope = auth_param("Credential").split("/")
    if len(scope) < 5:
        raise SignatureError("The Credential of a version 4 signature is "
                             "<access>/<date>/<region>/<service>/aws4_request.")
    date = str(headers.get("X-Amz-Date") or params.get("X-Amz-Date") or "")
    if not date.startswith(scope[1]):
        raise SignatureError("Request date mismatch error.")
    string_to_sign = "\n".join((V4_ALGORITHM, date, "/".join(scope[1:]),
                                hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()))
    key = signing_key(secret, scope[1], scope[2], scope[3])
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def is_v4(params: Mapping[str, Any], headers: Mapping[str, Any]) -> bool:
    return (str(headers.get("Authorization", "")).startswith(V4_ALGORITHM)
            or params.get("X-Amz-Algorithm") == V4_ALGORITHM)


def signature(secret: str, credentials: Mapping[str, Any]) -> str:
    """The signature of the request ``credentials`` describes, made with ``secret``."""
    params = _str_map(credentials.get("params"), "params")
    headers = _str_map(credentials.get("headers"), "headers")
    verb = str(credentials.get("verb") or "")
    host = str(credentials.get("host") or "")
    path = str(credentials.get("path") or "")
    version = params.get("SignatureVersion")
    if version == "0":
        return _v0(secret, params)
    if version == "1":
        return _v1(secret, params)
    if version == "2":
        return _v2(secret, params, verb, host, path)
    if is_v4(params, headers):
        return _v4(secret, params, verb, path, headers, str(credentials.get("body_hash") or ""))
    if version is not None:
        raise SignatureError(f"Unknown signature version: {version}.")
    raise SignatureError("Unexpected signature format.")


def matches(secret: str, credentials: Mapping[str, Any]) -> bool:
    """Whether the request's ``signature`` is right; retried without the host's port,
    which some clients leave out when signing (as Keystone does)."""
    given = credentials.get("signature")
    if not isinstance(given, str) or not given:
        return False
    if hmac.compare_digest(_utf8(given), _utf8(signature(secret, credentials))):
        return True
    host = str(credentials.get("host") or "")
    if ":" in host:
        bare = {**credentials, "host": host.split(":")[0]}
        return hmac.compare_digest(_utf8(given), _utf8(signature(secret, bare)))
    return False
