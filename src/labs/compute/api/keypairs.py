"""Key pairs: public keys a user keeps here for their servers to boot with.

A key pair belongs to a user (not a project) and its name is unique per user. The
``key_pairs`` quota counts a user's key pairs against the limit of the project the
caller works in, as Nova does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labs.common.context import RequestContext
from labs.common.db import Database, affected
from labs.common.errors import BadRequest, Conflict, Forbidden, NotFound
from labs.compute import models
from labs.compute.api.quotas import QuotaService
from labs.compute.payloads import utcnow

KP = models.Keypair
SSH, X509 = "ssh", "x509"


def _colon_hex(digest: str) -> str:
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def ssh_fingerprint(public_key: str) -> str:
    """Nova's fingerprint: the MD5 of the key blob, as colon-separated hex."""
    try:
        serialization.load_ssh_public_key(public_key.strip().encode())
        blob = base64.b64decode(public_key.split()[1])
    except (ValueError, IndexError, binascii.Error, UnicodeEncodeError):
        raise BadRequest("Keypair data is invalid: failed to generate fingerprint") from None
    return _colon_hex(hashlib.md5(blob, usedforsecurity=False).hexdigest())


def x509_fingerprint(certificate: str) -> str:
    """Nova's fingerprint of an x509 certificate: its SHA-1, colon-separated hex."""
    try:
        cert = x509.load_pem_x509_certificate(certificate.encode())
    except (ValueError, UnicodeEncodeError) as exc:
        raise BadRequest("Keypair data is invalid: failed to generate X509 fingerprint. "
                         f"Error message: {exc}") from None
    return _colon_hex(cert.fingerprint(hashes.SHA1()).hex())


def generate_ssh_key() -> tuple[str, str]:
    """A new ed25519 key: (private key in OpenSSH format, public key line)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return private, public


class KeypairService:
    def __init__(self, db: Database, quotas: QuotaService) -> None:
        self.db = db
        self.quotas = quotas

    def create(self, ctx: RequestContext, user_id: str, name: str, key_type: str = SSH,
               public_key: str | None = None) -> tuple[models.Keypair, str | None]:
        """Import ``public_key``, or make a new key when it is None: (row, private key
        or None). The private key is returned this once and never stored."""
        private_key = None
        if public_key is None:
            if key_type != SSH:
                raise BadRequest("Keypair data is invalid: only ssh key pairs can be "
                                 "generated; import an x509 certificate instead")
            private_key, public_key = generate_ssh_key()
        fingerprint = (ssh_fingerprint(public_key) if key_type == SSH
                       else x509_fingerprint(public_key))
        row = KP(user_id=user_id, name=name, type=key_type, public_key=public_key,
                 fingerprint=fingerprint, created_at=utcnow())
        self.quotas.ensure_lock_row(self.db, user_id)
        with self.db.transaction() as tx:
            # the quota counts per user: the user's own lock row keeps two creates
            # from both taking the last one
            self.quotas.lock(tx, user_id)
            limit = self.quotas.limits(tx, ctx.project_id or "")["key_pairs"]
            if 0 <= limit <= self.count(tx, user_id):
                raise Forbidden("Quota exceeded, too many key pairs.")
            try:
                with tx.begin_nested():
                    tx.add(row)
                    tx.flush()
            except IntegrityError:
                raise Conflict(f"Key pair '{name}' already exists.") from None
        return row, private_key

    @staticmethod
    def count(tx: Session, user_id: str) -> int:
        return int(tx.scalar(sa.select(sa.func.count()).select_from(KP)
                             .where(KP.user_id == user_id)) or 0)

    def list_keypairs(self, user_id: str, limit: int | None = None,
                      marker: str | None = None) -> list[models.Keypair]:
        """A user's key pairs by name, at most ``limit``, after the one named ``marker``."""
        query = sa.select(KP).where(KP.user_id == user_id).order_by(KP.name).limit(limit)
        with self.db.reading() as tx:
            if marker is not None:
                if tx.scalars(sa.select(KP.id).where(KP.user_id == user_id,
                                                     KP.name == marker)).first() is None:
                    raise BadRequest(f"Marker {marker} could not be found.")
                query = query.where(KP.name > marker)
            return list(tx.scalars(query))

    def get(self, user_id: str, name: str) -> models.Keypair:
        with self.db.reading() as tx:
            row = tx.scalars(sa.select(KP).where(KP.user_id == user_id,
                                                 KP.name == name)).first()
        if row is None:
            raise NotFound(f"Keypair {name} not found for user {user_id}")
        return row

    def delete(self, user_id: str, name: str) -> None:
        with self.db.transaction() as tx:
            gone = tx.execute(sa.delete(KP).where(KP.user_id == user_id, KP.name == name))
            if not affected(gone):
                raise NotFound(f"Keypair {name} not found for user {user_id}")

    def find(self, user_id: str, name: str) -> models.Keypair:
        """The key a server boots with (400, not 404, when the user has none by that
        name, as Nova answers a server create)."""
        try:
            return self.get(user_id, name)
        except NotFound:
            raise BadRequest("Invalid key_name provided.") from None
