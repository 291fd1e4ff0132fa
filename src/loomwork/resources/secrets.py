"""Encryption of provider secrets (`key` resources) with the server secret.

A key's secret is stored only as a Fernet token (AES-128-CBC with an HMAC) under a key
derived from `LOOMWORK_SECRET_KEY`; dedupe compares an HMAC fingerprint, never the
plain text. The server process sets the secret once at start (`configure`), like the
one it hashes API keys with: resource kinds are plain declarations with no settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBox:
    def __init__(self, server_secret: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(self._derive(server_secret, b"loomwork key encryption")))
        self._fingerprint_key = self._derive(server_secret, b"loomwork key fingerprint")

    @staticmethod
    def _derive(server_secret: bytes, purpose: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(server_secret)

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """For the code that calls a provider; no API response ever carries the result."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ValueError("the key was encrypted under another server secret") from None

    def fingerprint(self, plain: str) -> str:
        return hmac.new(self._fingerprint_key, plain.encode("utf-8"), hashlib.sha256).hexdigest()


_box: SecretBox | None = None


def configure(server_secret: bytes) -> None:
    global _box
    _box = SecretBox(server_secret)


def box() -> SecretBox:
    if _box is None:
        raise RuntimeError("The server secret is not configured: call loomwork.resources.secrets.configure first.")
    return _box
