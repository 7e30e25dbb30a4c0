"""Credentials (``/v3/credentials``) and EC2 credentials, their blobs encrypted at rest.

As Keystone: the blob is encrypted with the primary key of a Fernet key
repository kept apart from the token keys (``<data>/credential-keys``), and
the row remembers which key (``key_hash``). An ``ec2`` credential's id is the
SHA-256 of its access key, so a request signed with the key finds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from labs.common.db import save_unique
from labs.common.errors import BadRequest, NotFound
from labs.identity import models
from labs.identity.backends.base import IdentityBackend
from labs.identity.resources import get_row, new_id
from labs.identity.store import IdentityStore
from labs.identity.tokens import KeyRepository

C = models.Credential
EC2 = "ec2"


def hash_access_key(access: str) -> str:
    """The id of the ec2 credential with this access key (Keystone's ``hash_access_key``)."""
    return hashlib.sha256(access.encode("utf-8")).hexdigest()


class CredentialCrypto:
    """Fernet encryption of blobs with the credential key repository."""

    def __init__(self, keys: KeyRepository) -> None:
        self.keys = keys
        self._fernet: MultiFernet | None = None
        self._primary_hash = ""
        self._loaded_at: tuple[int, int] = (0, 0)

    def _crypto(self) -> tuple[MultiFernet, str]:
        stat = os.stat(self.keys.path)
        current = (stat.st_mtime_ns, stat.st_ino)
        if self._fernet is None or current != self._loaded_at:
            loaded = self.keys.load()
            self._fernet = MultiFernet([Fernet(k) for k in loaded])
            self._primary_hash = hashlib.sha1(loaded[0]).hexdigest()  # names the key, as Keystone
            self._loaded_at = current
        return self._fernet, self._primary_hash

    def encrypt(self, blob: str) -> tuple[str, str]:
        """The encrypted blob and the hash of the key that encrypted it."""
        fernet, key_hash = self._crypto()
        return fernet.encrypt(blob.encode("utf-8")).decode(), key_hash

    def primary_hash(self) -> str:
        return self._crypto()[1]

    def decrypt(self, encrypted: str) -> str:
        fernet, _ = self._crypto()
        try:
            return fernet.decrypt(encrypted.encode()).decode("utf-8")
        except InvalidToken:
            raise RuntimeError("a credential was encrypted with a key that is no longer in "
                               "the credential key repository") from None


@dataclass(frozen=True)
class CredentialView:
    """A credential with its blob in the clear."""

    id: str
    user_id: str
    project_id: str | None
    type: str
    blob: str

    def ec2_blob(self) -> dict[str, Any]:
        blob = json.loads(self.blob)
        return blob if isinstance(blob, dict) else {}


def ec2_access(blob: str) -> dict[str, Any]:
    """An ec2 blob parsed: a JSON object with a string ``access``, or 400."""
    try:
        parsed = json.loads(blob)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("access"), str) \
            or not parsed["access"]:
        raise BadRequest("Invalid blob in credential: an ec2 blob is a JSON object with "
                         "\"access\" and \"secret\".")
    return parsed


class CredentialService:
    def __init__(self, store: IdentityStore, backend: IdentityBackend,
                 crypto: CredentialCrypto) -> None:
        self.store = store
        self.backend = backend
        self.crypto = crypto

    def _view(self, row: models.Credential) -> CredentialView:
        return CredentialView(row.id, row.user_id, row.project_id, row.type,
                              self.crypto.decrypt(row.encrypted_blob))

    @staticmethod
    def _check_ec2(fields: dict[str, Any]) -> str:
        blob = ec2_access(fields["blob"])
        if not fields.get("project_id"):
            raise BadRequest("Invalid input for field 'project_id': an ec2 credential "
                             "needs a project.")
        return hash_access_key(blob["access"])

    def create(self, fields: dict[str, Any]) -> CredentialView:
        credential_id = self._check_ec2(fields) if fields["type"] == EC2 else new_id()
        encrypted, key_hash = self.crypto.encrypt(fields["blob"])
        with self.store.write() as tx:
            self.backend.get_user(tx, fields["user_id"])
            if fields.get("project_id"):
                get_row(tx, models.Project, fields["project_id"], "project")
            row = C(id=credential_id, user_id=fields["user_id"],
                    project_id=fields.get("project_id"), type=fields["type"],
                    encrypted_blob=encrypted, key_hash=key_hash)
            save_unique(tx, f"credential {credential_id}", row)
            return self._view(row)

    def get(self, credential_id: str) -> CredentialView:
        with self.store.read() as tx:
            return self._view(get_row(tx, C, credential_id, "credential"))

    def list_credentials(self, user_id: str | None = None,
                         type_: str | None = None) -> list[CredentialView]:
        query = sa.select(C).order_by(C.id)
        if user_id is not None:
            query = query.where(C.user_id == user_id)
        if type_ is not None:
            query = query.where(C.type == type_)
        with self.store.read() as tx:
            return [self._view(row) for row in tx.scalars(query)]

    def update(self, credential_id: str, changes: dict[str, Any]) -> CredentialView:
        with self.store.write() as tx:
            row: models.Credential = get_row(tx, C, credential_id, "credential")
            old = self._view(row)
            merged = {"user_id": old.user_id, "project_id": old.project_id, "type": old.type,
                      "blob": old.blob, **changes}
            if old.type == EC2 or merged["type"] == EC2:
                # the id is the hash of the access key: neither may change
                if merged["type"] != old.type:
                    raise BadRequest("The type of an ec2 credential cannot change.")
                if self._check_ec2(merged) != old.id:
                    raise BadRequest("access can not be updated for credential.")
            if merged["user_id"] != old.user_id:
                self.backend.get_user(tx, merged["user_id"])
            if merged["project_id"] and merged["project_id"] != old.project_id:
                get_row(tx, models.Project, merged["project_id"], "project")
            row.user_id, row.project_id, row.type = (merged["user_id"], merged["project_id"],
                                                     merged["type"])
            if "blob" in changes:
                row.encrypted_blob, row.key_hash = self.crypto.encrypt(merged["blob"])
            return self._view(row)

    def delete(self, credential_id: str) -> None:
        with self.store.write() as tx:
            tx.delete(get_row(tx, C, credential_id, "credential"))

    def rotate_keys(self) -> tuple[int, int]:
        """Rotate the credential keys, never losing a blob (Keystone's ``credential_rotate``
        then ``credential_migrate``): every blob is re-encrypted with the primary key before
        the rotation drops a key, and with the new primary after it.

        Returns the new primary key's number and how many blobs moved to it.
        """
        self.crypto.keys.ensure()
        self.reencrypt()
        primary = self.crypto.keys.rotate()
        return primary, self.reencrypt()

    def reencrypt(self) -> int:
        """Encrypt every blob not encrypted with the primary key with it; returns how many."""
        primary = self.crypto.primary_hash()
        with self.store.write() as tx:
            rows = list(tx.scalars(sa.select(C).where(C.key_hash != primary)))
            for row in rows:
                row.encrypted_blob, row.key_hash = self.crypto.encrypt(
                    self.crypto.decrypt(row.encrypted_blob))
            return len(rows)

    # -- EC2 (OS-EC2) --------------------------------------------------------
    def create_ec2(self, user_id: str, project_id: str, trust_id: str | None) -> CredentialView:
        blob = {"access": uuid.uuid4().hex, "secret": uuid.uuid4().hex, "trust_id": trust_id}
        return self.create({"user_id": user_id, "project_id": project_id, "type": EC2,
                            "blob": json.dumps(blob)})

    def get_ec2(self, user_id: str, access: str) -> CredentialView:
        with self.store.read() as tx:
            row = tx.get(C, hash_access_key(access))
            if row is None or row.user_id != user_id or row.type != EC2:
                raise NotFound(f"Could not find credential: {access}.")
            return self._view(row)

    def list_ec2(self, user_id: str) -> list[CredentialView]:
        with self.store.read() as tx:
            self.backend.get_user(tx, user_id)
        return self.list_credentials(user_id, EC2)

    def delete_ec2(self, user_id: str, access: str) -> None:
        with self.store.write() as tx:
            row = tx.get(C, hash_access_key(access))
            if row is None or row.user_id != user_id or row.type != EC2:
                raise NotFound(f"Could not find credential: {access}.")
            tx.delete(row)

    def find_ec2(self, access: str) -> CredentialView | None:
        """The ec2 credential with this access key, for signature checks."""
        with self.store.read() as tx:
            row = tx.get(C, hash_access_key(access))
            return self._view(row) if row is not None and row.type == EC2 else None
