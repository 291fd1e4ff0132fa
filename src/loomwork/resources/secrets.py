"""Encryption of provider secrets (`key` resources) with the server secret, and its rotation.

A key's secret is stored only as a Fernet token (AES-128-CBC with an HMAC) under a key derived from
`LOOMWORK_SECRET_KEY` for this purpose alone. Tokens are versioned by trial: `MultiFernet` encrypts
under the current secret and decrypts under it or any secret in LOOMWORK_OLD_SECRET_KEYS, so a
rotation needs no downtime; `loomwork rotate-secret` then re-encrypts every stored token
(`ENCRYPTED` lists where they are). The server process sets the secrets once at start
(`configure`): resource kinds are plain declarations with no settings.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import ColumnElement, Table, select, update
from sqlalchemy.orm import Session

from loomwork.errors import Conflict
from loomwork.keyring import Keyring, derive
from loomwork.urlsafety import origin_of


class SecretBox:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._fernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(derive(secret, "key-encryption"))) for secret in keyring.secrets]
            # Tokens made before per-purpose keys (info "loomwork key encryption").
            + [Fernet(base64.urlsafe_b64encode(_legacy_key(secret))) for secret in keyring.secrets]
        )

    def fingerprint(self, plain: str) -> str:
        """A keyed digest of a secret (a draft request's replay hash holds this, never the secret)."""
        return self._keyring.digest("key-fingerprint", plain)

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """For the code that calls a provider; no API response ever carries the result."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ValueError("the key was encrypted under a secret this server no longer has") from None

    def rotate(self, token: str) -> str:
        """The token re-encrypted under the current secret (the plain text never leaves this call)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise ValueError("the key was encrypted under a secret this server no longer has") from None


def _legacy_key(secret: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"loomwork key encryption").derive(secret)


_box: SecretBox | None = None


def configure(keyring: Keyring) -> None:
    global _box
    _box = SecretBox(keyring)


def box() -> SecretBox:
    if _box is None:
        raise RuntimeError("The server secret is not configured: call loomwork.resources.secrets.configure first.")
    return _box


# --- where a provider key may go ---------------------------------------------------------------------------------


class KeyOriginMismatch(Conflict):
    code = "key_origin_mismatch"


def check_origin(key: dict[str, Any], url: str, field: str = "key") -> None:
    """409 `key_origin_mismatch` unless the stored key value is bound to `url`'s origin: a key goes only where
    the person who entered it meant it to go, whoever edits the endpoint after."""
    bound, wanted = key.get("origin"), origin_of(url)
    if bound is None or bound != wanted:
        where = f"is bound to {bound}" if bound else "is bound to no origin (it came before keys were bound)"
        raise KeyOriginMismatch(
            f"{field}: the key {key.get('name')!r} {where}, not to {wanted or url}, so it is not sent there. "
            "A person with the editor role enters the key again with this endpoint (key: {name, secret}, "
            "optionally origin); an agent's proposal never binds a key.",
            field=field,
        )


def decrypt_for(key: dict[str, Any], url: str, field: str = "key") -> str:
    """The key's secret, for a request to `url` only, and only if the key is bound to its origin."""
    check_origin(key, url, field)
    return box().decrypt(key["ciphertext"])


# --- keeping secrets out of error texts ----------------------------------------------------------------------------

# A word of an error text that shares this many characters in a row with a secret (or with its base64, URL or hex
# spelling) is masked whole. Four would be too few to mean anything: a key's last four are shown anyway.
MIN_SHARED = 5
_WORD = re.compile(r"[^\s\"'`,;()\[\]{}<>]+")


def _spellings(secret: str) -> list[str]:
    raw = secret.encode("utf-8")
    forms = [secret, quote(secret, safe=""), raw.hex()]
    for shift in (b"", b"\0", b"\0\0"):  # base64 of the secret at each alignment it may start at in a longer text
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(shift + raw).decode("ascii").rstrip("=")
            forms.append(text[(len(shift) * 4 + 2) // 3 :])  # drop the characters the shift made
    return forms


def scrub(text: str, *secrets: str) -> str:
    """`text` with every word that shares MIN_SHARED characters in a row with one of `secrets`, as given or
    spelled in base64, URL or hex, replaced by ****: a server's error text may echo a key whole, in part, or
    encoded, and none of it may reach a person or a log."""
    grams: set[str] = set()
    for secret in secrets:
        if len(secret) < MIN_SHARED:
            continue
        for form in _spellings(secret):
            form = form.lower()
            grams.update(form[i : i + MIN_SHARED] for i in range(len(form) - MIN_SHARED + 1))
    if not grams:
        return text

    def mask(word: re.Match[str]) -> str:
        found = word.group().lower()
        shared = any(found[i : i + MIN_SHARED] in grams for i in range(len(found) - MIN_SHARED + 1))
        return "****" if shared else word.group()

    return _WORD.sub(mask, text)


# --- rotation -----------------------------------------------------------------------------------------------------


def _rotate_whole_value(value: str, secrets: SecretBox) -> str:
    return secrets.rotate(value)


def rotate_each_token(tokens: dict[str, str], secrets: SecretBox) -> dict[str, str]:
    """A JSON column of {name: token}: every token re-encrypted, the names kept."""
    return {name: secrets.rotate(token) for name, token in tokens.items()}


@dataclass(frozen=True)
class EncryptedColumn:
    """A column that holds Fernet tokens. `rewrite` turns a stored value into the re-encrypted one (the default:
    the whole value is one token); `where` narrows the rows (a table shared with other data)."""

    table: Table
    column: str
    rewrite: Callable[[Any, SecretBox], Any] = _rotate_whole_value
    where: Callable[[Table], ColumnElement[bool]] | None = None


# Every place a token is stored: `loomwork rotate-secret` re-encrypts each. One line adds a new one, e.g.
# `ENCRYPTED.append(EncryptedColumn(Webhook.__table__, "secret_encrypted"))` beside the model.
ENCRYPTED: list[EncryptedColumn] = []


def rotate_all(session: Session, chunk: int = 500) -> dict[str, int]:
    """Re-encrypt every registered token under the current secret; returns how many values each column had.
    Only flushes: the caller commits (one transaction, so a failure leaves everything as it was)."""
    counts: dict[str, int] = {}
    for place in ENCRYPTED:
        table, column = place.table, place.table.c[place.column]
        keys = list(table.primary_key.columns)  # a row is found by its whole key, composite or not
        query = select(*keys, column).where(column.is_not(None))
        if place.where is not None:
            query = query.where(place.where(table))
        rows = session.execute(query).all()
        for start in range(0, len(rows), chunk):
            for *row_key, value in rows[start : start + chunk]:
                match = [key == part for key, part in zip(keys, row_key)]
                session.execute(update(table).where(*match).values({place.column: place.rewrite(value, box())}))
        counts[f"{table.name}.{place.column}"] = len(rows)
    return counts


def _rotate_key_value(stored: str, secrets: SecretBox) -> str:
    """A `key` resource's stored JSON with its ciphertext re-encrypted; name and last four stay."""
    from loomwork.resources.kinds import RESOURCE_KINDS

    kind = RESOURCE_KINDS["key"]
    value = kind.load(stored)
    return kind.dump({**value, "ciphertext": secrets.rotate(value["ciphertext"])})


def _register_key_resources() -> None:
    from loomwork.resources.models import Resource

    ENCRYPTED.append(
        EncryptedColumn(Resource.__table__, "value", _rotate_key_value, lambda table: table.c.kind == "key")
    )


_register_key_resources()
