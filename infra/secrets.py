"""Provider credentials sealed per tenant (Fernet: AES-128-CBC + HMAC-SHA256).

Each tenant's key is derived from the master key with HKDF, so one tenant's ciphertext is
useless with another tenant's id, and rotating the master key is one setting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from functools import lru_cache
from uuid import UUID

import orjson
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class FernetSecretBox:
    def __init__(self, master_key: str) -> None:
        self._master = master_key.encode()

    @lru_cache(maxsize=1_024)  # noqa: B019 - one box per process; keys are tiny
    def _fernet(self, tenant_id: UUID) -> Fernet:
        derived = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"bsdflow-credentials:" + tenant_id.bytes,
        ).derive(self._master)
        return Fernet(base64.urlsafe_b64encode(derived))

    def fingerprint(self, tenant_id: UUID, data: bytes) -> str:
        return hmac.new(self._fingerprint_key(tenant_id), data, hashlib.sha256).hexdigest()

    @lru_cache(maxsize=1_024)  # noqa: B019 - as _fernet
    def _fingerprint_key(self, tenant_id: UUID) -> bytes:
        return HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"bsdflow-fingerprints:" + tenant_id.bytes,
        ).derive(self._master)

    def seal(self, tenant_id: UUID, secrets: Mapping[str, str]) -> str:
        return self._fernet(tenant_id).encrypt(orjson.dumps(dict(secrets))).decode()

    def open(self, tenant_id: UUID, sealed: str) -> dict[str, str]:
        try:
            opened: dict[str, str] = orjson.loads(self._fernet(tenant_id).decrypt(sealed.encode()))
        except InvalidToken:
            raise ValueError("credentials cannot be decrypted with this key") from None
        return opened
