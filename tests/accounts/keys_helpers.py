"""ssh keys for the tests, made with ``cryptography`` (public and private, good and bad)."""

from __future__ import annotations

import base64
from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

_OPENSSH = serialization.PublicFormat.OpenSSH


def ed25519_pair() -> tuple[str, str]:
    """(public line, OpenSSH private key text) of a fresh ed25519 key."""
    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, _OPENSSH).decode()
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    return f"{public} someone@laptop", private


def ed25519_public() -> str:
    return ed25519_pair()[0]


@cache
def rsa_public(bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, _OPENSSH).decode()


@cache
def rsa_private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def ecdsa_public(curve: ec.EllipticCurve) -> str:
    key = ec.generate_private_key(curve)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, _OPENSSH).decode()


#: An ssh-dss key line (DSA: OpenSSH stopped accepting these).
DSA_PUBLIC = ("ssh-dss " + base64.b64encode(b"\x00\x00\x00\x07ssh-dss" + b"\x00" * 64)
              .decode())
