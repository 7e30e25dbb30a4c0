"""ssh public keys as users send them: checked, and kept as one clean OpenSSH line.

A key is parsed by ``cryptography`` (the type named in front must be the one inside the
data); accepted are ssh-ed25519, ecdsa-sha2-nistp256/384/521 and ssh-rsa of 2048 bits
or more. Anything that looks like a private key is refused, whatever its format.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from labs.common.errors import BadRequest
from labs.identity.posix import key_fingerprint

#: The longest key text accepted (a 16384-bit RSA key's line is about 2.8 kB).
MAX_KEY_TEXT = 8192
MAX_COMMENT = 255
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 16384
CURVES = {"ecdsa-sha2-nistp256": ec.SECP256R1, "ecdsa-sha2-nistp384": ec.SECP384R1,
          "ecdsa-sha2-nistp521": ec.SECP521R1}
TYPES = ("ssh-ed25519", "ssh-rsa", *CURVES)
_PRIVATE_MARKERS = ("PRIVATE KEY", "PuTTY-User-Key-File", "---- BEGIN SSH2 ENCRYPTED",
                    "-----BEGIN")
PRIVATE_KEY_REFUSED = ("This is a private key: never send a private key to anyone, Labs "
                       "included. Send the public key (the .pub file, e.g. "
                       "~/.ssh/id_ed25519.pub) and keep the private key to yourself; if "
                       "you sent it anywhere, make a new pair.")


@dataclass(frozen=True)
class PublicKey:
    line: str            # "TYPE BASE64[ COMMENT]"
    type: str
    fingerprint: str     # SHA256, URL-safe base64 without padding
    comment: str
    bits: int


def _looks_private(text: str) -> bool:
    if any(marker in text for marker in _PRIVATE_MARKERS):
        return True
    # an OpenSSH private key's data starts with "openssh-key-v1" (this, in base64)
    return any(word.startswith("b3BlbnNzaC1rZXktdjE") for word in text.split())


def _bits(key: object, key_type: str) -> int:
    if key_type == "ssh-ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
        return 256
    if key_type == "ssh-rsa" and isinstance(key, rsa.RSAPublicKey):
        if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
            raise BadRequest(f"An ssh-rsa key must have {MIN_RSA_BITS} to {MAX_RSA_BITS} "
                             f"bits; this one has {key.key_size}.")
        return int(key.key_size)
    curve = CURVES.get(key_type)
    if curve is not None and isinstance(key, ec.EllipticCurvePublicKey) \
            and isinstance(key.curve, curve):
        return int(key.curve.key_size)
    raise BadRequest(f"The key's data is not a {key_type} key.")


def parse_public_key(text: str) -> PublicKey:
    """One OpenSSH public key line, checked; 400 with a reason otherwise."""
    if len(text) > MAX_KEY_TEXT:
        raise BadRequest(f"An ssh public key is at most {MAX_KEY_TEXT} characters.")
    if _looks_private(text):
        raise BadRequest(PRIVATE_KEY_REFUSED)
    stripped = text.strip()
    if "\n" in stripped or "\r" in stripped:
        raise BadRequest("Send one ssh public key per request, on one line.")
    parts = stripped.split(None, 2)
    if len(parts) < 2:
        raise BadRequest("An ssh public key is a line 'TYPE BASE64 [COMMENT]', as in a "
                         ".pub file.")
    key_type, data = parts[0], parts[1]
    comment = parts[2].strip() if len(parts) == 3 else ""
    if key_type not in TYPES:
        raise BadRequest(f"Unsupported ssh key type (options before the key are not "
                         f"accepted either); use one of: {', '.join(TYPES)}.")
    # printable ASCII: what a VM's access document and its guest take (a key they
    # refuse would leave its whole project without a document)
    if len(comment) > MAX_COMMENT or not (comment.isascii() and comment.isprintable()):
        raise BadRequest(f"The key's comment must be printable ASCII and at most "
                         f"{MAX_COMMENT} characters.")
    try:
        base64.b64decode(data, validate=True)
        key = load_ssh_public_key(f"{key_type} {data}".encode())
    except (binascii.Error, ValueError, TypeError, UnsupportedAlgorithm):
        raise BadRequest(f"This is not a valid {key_type} public key.") from None
    bits = _bits(key, key_type)
    line = f"{key_type} {data}" + (f" {comment}" if comment else "")
    return PublicKey(line=line, type=key_type, fingerprint=key_fingerprint(line),
                     comment=comment, bits=bits)


def describe(line: str) -> PublicKey:
    """A stored key line, described (a directory may hold keys Labs would refuse now)."""
    try:
        return parse_public_key(line)
    except BadRequest:
        pass
    parts = line.split(None, 2)
    return PublicKey(line=line, type=parts[0], fingerprint=key_fingerprint(line),
                     comment=parts[2] if len(parts) == 3 else "", bits=0)
