"""ssh public keys: what is accepted, what is refused and why."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from labs.accounts.keys import PRIVATE_KEY_REFUSED, parse_public_key
from labs.common.errors import BadRequest
from labs.network.agent.metadata.access import AccessAccount
from tests.accounts.keys_helpers import (
    DSA_PUBLIC,
    ecdsa_public,
    ed25519_pair,
    ed25519_public,
    rsa_private_pem,
    rsa_public,
)


@pytest.mark.parametrize("make", [
    ed25519_public,
    lambda: rsa_public(2048),
    lambda: rsa_public(4096),
    lambda: ecdsa_public(ec.SECP256R1()),
    lambda: ecdsa_public(ec.SECP384R1()),
    lambda: ecdsa_public(ec.SECP521R1()),
])
def test_good_keys_are_accepted_with_ssh_keygens_fingerprint(make: object) -> None:
    assert callable(make)
    line: str = make()
    key = parse_public_key("  " + line + "\n")
    assert key.line == line.strip()
    blob = base64.b64decode(line.split()[1])
    expected = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    assert key.fingerprint == expected.replace("+", "-").replace("/", "_")


def test_private_keys_of_every_format_are_refused() -> None:
    public, private = ed25519_pair()
    body = "".join(private.splitlines()[1:-1])  # the base64 alone, without the armour
    for text in (private, rsa_private_pem(), body,
                 "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n",
                 public + "\n" + private):
        with pytest.raises(BadRequest) as err:
            parse_public_key(text)
        assert err.value.message == PRIVATE_KEY_REFUSED
        assert "never send a private key" in err.value.message


@pytest.mark.parametrize("text,why", [
    ("", "a line 'TYPE BASE64"),
    ("ssh-ed25519", "a line 'TYPE BASE64"),
    ("ssh-ed25519 !!!notbase64!!!", "not a valid ssh-ed25519"),
    ("ssh-ed25519 AAAA", "not a valid ssh-ed25519"),
    ('command="rm -rf /" ssh-ed25519 AAAA', "Unsupported ssh key type"),
    ("ssh-foo AAAAB3NzaC1yc2E=", "Unsupported ssh key type"),
])
def test_malformed_keys_are_refused(text: str, why: str) -> None:
    with pytest.raises(BadRequest, match=why):
        parse_public_key(text)


def test_weak_and_unsupported_keys_are_refused() -> None:
    with pytest.raises(BadRequest, match="2048 to 16384 bits; this one has 1024"):
        parse_public_key(rsa_public(1024))
    with pytest.raises(BadRequest, match="Unsupported ssh key type"):
        parse_public_key(DSA_PUBLIC)


def test_a_key_whose_type_lies_is_refused() -> None:
    data = rsa_public(2048).split()[1]
    with pytest.raises(BadRequest, match="ssh-ed25519"):
        parse_public_key(f"ssh-ed25519 {data}")


def test_two_keys_a_control_character_or_a_huge_key_are_refused() -> None:
    one, two = ed25519_public(), ed25519_public()
    with pytest.raises(BadRequest, match="one ssh public key per request"):
        parse_public_key(one + "\n" + two)
    with pytest.raises(BadRequest, match="printable"):
        parse_public_key(one.split(" someone")[0] + " evil\x1bcomment")
    with pytest.raises(BadRequest, match="at most 8192"):
        parse_public_key("ssh-rsa " + "A" * 9000)


@pytest.mark.parametrize("comment", ["josé@laptop", "a\u2028b", "\u0430dmin@host", "x\xa0y"])
def test_a_comment_is_printable_ascii_as_a_vm_takes_it(comment: str) -> None:
    """A VM's access document (and the guest reading it) takes printable ASCII comments
    only: a key it refused would leave the key's whole project without one."""
    one = ed25519_public().split(" someone")[0]
    with pytest.raises(BadRequest, match="printable ASCII"):
        parse_public_key(f"{one} {comment}")
    key = parse_public_key(f"{one} alice@laptop ~!#$%^&*()")
    AccessAccount("alice", 2001, 2001, (key.line,))
