"""Fernet tokens and the key repository."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from labs.common.errors import Unauthorized
from labs.identity.resources import utcnow
from labs.identity.tokens import KeyRepository, TokenCodec, TokenPayload, new_audit_id


def payload(**kw: object) -> TokenPayload:
    now = utcnow()
    base: dict[str, object] = {
        "user_id": "u1", "methods": ("password",), "expires_at": now + timedelta(hours=1),
        "issued_at": now, "audit_ids": (new_audit_id(),), "project_id": "p1"}
    base.update(kw)
    return TokenPayload(**base)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "keys")
    repo.ensure()
    codec = TokenCodec(repo)
    for original in (payload(), payload(project_id=None, domain_id="d1"),
                     payload(project_id=None, system=True),
                     payload(methods=("password", "token"), application_credential_id="ac")):
        decoded = codec.decode(codec.encode(original))
        assert decoded.user_id == original.user_id
        assert decoded.methods == original.methods
        assert (decoded.project_id, decoded.domain_id, decoded.system) == (
            original.project_id, original.domain_id, original.system)
        assert decoded.application_credential_id == original.application_credential_id
        assert abs((decoded.issued_at - original.issued_at).total_seconds()) < 1e-5
        assert decoded.audit_ids == original.audit_ids


def test_tampered_or_foreign_tokens_are_refused(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "a")
    repo.ensure()
    other = KeyRepository(tmp_path / "b")
    other.ensure()
    token = TokenCodec(repo).encode(payload())
    with pytest.raises(Unauthorized):
        TokenCodec(other).decode(token)
    with pytest.raises(Unauthorized):
        TokenCodec(repo).decode(token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB"))
    with pytest.raises(Unauthorized):
        TokenCodec(repo).decode("not-a-token")


def test_rotation_keeps_recent_tokens_and_drops_old_keys(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "keys", max_active_keys=3)
    repo.ensure()
    codec = TokenCodec(repo)
    before = codec.encode(payload())
    assert repo.rotate() == 2
    # made with the old primary, now a secondary: still valid
    assert codec.decode(before).user_id == "u1"
    after = codec.encode(payload())
    repo.rotate()  # the key `before` used is now dropped (3 keys kept)
    assert sorted(int(p.name) for p in (tmp_path / "keys").iterdir()) == [0, 2, 3]
    with pytest.raises(Unauthorized):
        codec.decode(before)
    assert codec.decode(after).user_id == "u1"


def test_keys_are_private_files(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "keys")
    repo.ensure()
    for key in (tmp_path / "keys").iterdir():
        assert key.stat().st_mode & 0o077 == 0
