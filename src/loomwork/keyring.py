"""The server secret, turned into one key per purpose, with the secrets being rotated out.

Each purpose (API-key hashing, session hashing, CSRF tokens, provider-key encryption) gets its own key,
derived with HKDF, so no value made for one purpose can stand in for another's. During a rotation the
new secret (LOOMWORK_SECRET_KEY) makes everything new, and the old ones (LOOMWORK_OLD_SECRET_KEYS) are
still accepted for what was made under them: `candidates()` lists the keys to try, current first.

Before this module the raw secret keyed every HMAC; those digests are the "legacy" candidates of each
secret, so an upgrade keeps every API key and session working.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_SECRET_BYTES = 32
Purpose = Literal["api-key", "session", "csrf", "key-encryption", "key-fingerprint", "secret-id"]


class SecretTooShort(ValueError):
    pass


def check_secret(secret: bytes, where: str) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretTooShort(
            f"{where} is {len(secret)} bytes; the server secret must be at least "
            f"{MIN_SECRET_BYTES} bytes (for example `python -c 'import secrets; "
            f"print(secrets.token_urlsafe(48))'`)."
        )


@lru_cache(maxsize=64)  # a handful of secrets x purposes, derived on every request otherwise
def derive(secret: bytes, purpose: Purpose) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"loomwork {purpose}".encode()).derive(secret)


@dataclass(frozen=True)
class Keyring:
    """The current secret and the old ones still accepted (newest first)."""

    current: bytes
    old: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        check_secret(self.current, "LOOMWORK_SECRET_KEY")
        for secret in self.old:
            check_secret(secret, "a secret in LOOMWORK_OLD_SECRET_KEYS")

    @property
    def secrets(self) -> tuple[bytes, ...]:
        return (self.current, *self.old)

    def key(self, purpose: Purpose) -> bytes:
        return derive(self.current, purpose)

    @property
    def current_id(self) -> str:
        """A short public name of the current secret, stored beside what it hashed (api_keys.secret_id)."""
        return secret_id(self.current)

    def digest(self, purpose: Purpose, message: str) -> str:
        """The digest new data gets: HMAC-SHA256 under the current secret's key for `purpose`."""
        return _hmac(self.key(purpose), purpose, message)

    def candidates(self, purpose: Purpose, message: str) -> list[str]:
        """Every digest `message` may have been stored under: each secret's derived key, then its legacy form."""
        derived = [_hmac(derive(s, purpose), purpose, message) for s in self.secrets]
        return derived + [_legacy_hmac(s, purpose, message) for s in self.secrets]


def secret_id(secret: bytes) -> str:
    return hmac.new(derive(secret, "secret-id"), b"id", hashlib.sha256).hexdigest()[:16]


def _hmac(key: bytes, purpose: str, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def _legacy_hmac(secret: bytes, purpose: str, message: str) -> str:
    """The digests made before per-purpose keys: the raw secret, sessions and CSRF prefixed with their purpose."""
    prefix = {"session": "session:", "csrf": "csrf:"}.get(purpose, "")
    return hmac.new(secret, f"{prefix}{message}".encode(), hashlib.sha256).hexdigest()
