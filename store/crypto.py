"""Secrets at rest: AES-256-GCM with the row and column as associated data.

A value copied into another row or column fails to decrypt. Several keys may be configured
(comma-separated, newest first) so keys can be rotated: the first encrypts, all decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "enc1"


def parse_keys(raw: str) -> tuple[bytes, ...]:
    """Parse `ENCRYPTION_KEY`: comma-separated 32-byte keys as 64 hex chars or urlsafe base64."""
    keys = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        key: bytes | None = None
        if len(part) == 64:
            try:
                key = bytes.fromhex(part)
            except ValueError:
                key = None
        if key is None:
            try:
                key = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
            except (binascii.Error, ValueError):
                raise ValueError("keys must be 64 hex characters or base64 of 32 bytes") from None
        if len(key) != 32:
            raise ValueError("each key must be 32 bytes (64 hex characters)")
        keys.append(key)
    if not keys:
        raise ValueError("no key given")
    return tuple(keys)


def new_key() -> str:
    return os.urandom(32).hex()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class SecretBox:
    def __init__(self, keys: tuple[bytes, ...]) -> None:
        self._by_id = {_key_id(k): AESGCM(k) for k in keys}
        self._current_id = _key_id(keys[0])

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(12)
        ct = self._by_id[self._current_id].encrypt(nonce, plaintext.encode(), context.encode())
        blob = base64.urlsafe_b64encode(nonce + ct).decode().rstrip("=")
        return f"{PREFIX}.{self._current_id}.{blob}"

    def decrypt(self, token: str, context: str) -> str:
        try:
            prefix, key_id, blob = token.split(".", 2)
            aead = self._by_id[key_id]
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
            if prefix != PREFIX:
                raise ValueError(prefix)
            return aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (ValueError, KeyError, InvalidTag, binascii.Error):
            raise DecryptError("a stored secret does not decrypt with these keys") from None

    def needs_rotation(self, token: str) -> bool:
        return not token.startswith(f"{PREFIX}.{self._current_id}.")


class DecryptError(Exception):
    pass
