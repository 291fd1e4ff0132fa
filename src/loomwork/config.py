"""Settings from LOOMWORK_* environment variables, with embedded defaults.

Everything local lives under one data directory (`.loomwork/` in the working
directory unless LOOMWORK_DATA_DIR says otherwise): the SQLite database, the
server secret and the bootstrap admin key.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from loomwork.keyring import Keyring

SECRET_FILE = "secret.key"
ADMIN_KEY_FILE = "admin.key"
SQLITE_FILE = "loomwork.sqlite3"


@dataclass(frozen=True)
class Settings:
    database_url: str
    data_dir: Path
    secret_key: bytes
    # Secrets being rotated out (LOOMWORK_OLD_SECRET_KEYS, comma-separated): still accepted, never used for new data.
    old_secret_keys: tuple[bytes, ...] = ()
    max_body_bytes: int = 1024 * 1024
    # CSV imports carry whole catalogs, so their route takes more.
    max_import_bytes: int = 64 * 1024 * 1024
    # Let generator endpoints (and webhooks) point at private, loopback and link-local addresses.
    allow_private_urls: bool = False
    # A generator call gives up after this many seconds (each attempt), and tries at most this often more.
    generator_timeout_s: float = 30.0
    generator_retries: int = 1
    # Generations under way at once in one worker process, and for one group (LOOMWORK_MAX_GENERATIONS,
    # LOOMWORK_MAX_GENERATIONS_PER_GROUP); past either, 429 `too_many_generations` at once.
    max_generations: int = 8
    max_generations_per_group: int = 4
    # Webhooks (events/delivery.py). The worker runs in `serve` unless LOOMWORK_DELIVERY_WORKER=0; tests
    # that build Settings themselves run it only when they ask.
    delivery_worker: bool = False
    webhook_timeout_s: float = 5.0  # per attempt: connect, send, answer
    webhook_lease_s: float = 30.0  # a claimed delivery (and SQLite's worker lease) is someone else's after this
    webhook_retry_base_s: float = 5.0  # first retry after 2.5-5 s, doubling up to 3 h
    webhook_retry_window_s: float = 24 * 3600.0  # retried for at least this long, then failed
    changes_max_wait_s: float = 30.0  # the longest long poll of POST /api/v5/changes

    # Exports (uploads) expire after this many seconds (LOOMWORK_UPLOAD_TTL_SECONDS), and a group keeps at most
    # this many, of at most this many bytes in all (LOOMWORK_UPLOAD_QUOTA_COUNT, LOOMWORK_UPLOAD_QUOTA_BYTES).
    upload_ttl_seconds: int = 24 * 3600
    upload_quota_count: int = 20
    upload_quota_bytes: int = 512 * 1024 * 1024
    # Open drafts nobody touched for this many days are discarded by the sweeper (LOOMWORK_DRAFT_TTL_DAYS).
    draft_ttl_days: int = 30
    # The MCP tool set (LOOMWORK_MCP_TOOLS): "compact", a handful whose kind is an argument (a few KB of an
    # agent's context), or "full", every kind's own tools with its own request schema (some 70 KB).
    mcp_tools: str = "compact"

    def __post_init__(self) -> None:
        # Making the keyring checks its secrets: one under 32 bytes stops the server at start, naming the variable.
        _ = self.keyring

    @property
    def keyring(self) -> Keyring:
        return Keyring(self.secret_key, self.old_secret_keys)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def normalise_database_url(url: str) -> str:
    """Accept the plain `postgresql://` form people copy around; we drive it with psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def write_private_file(path: Path, text: str) -> None:
    """Create a file readable by its owner only (mode 0600), replacing any old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def _load_secret(data_dir: Path) -> bytes:
    env = os.environ.get("LOOMWORK_SECRET_KEY")
    if env:
        return env.encode()
    path = data_dir / SECRET_FILE
    if not path.exists():
        write_private_file(path, secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip().encode()


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    raw = os.environ.get(name, "").strip().lower() or default
    if raw not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {raw!r}.")
    return raw


def _int_setting(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {raw!r}.")
    return int(raw)


def load_settings(database_url: str | None = None) -> Settings:
    data_dir = Path(os.environ.get("LOOMWORK_DATA_DIR") or Path.cwd() / ".loomwork")
    url = database_url or os.environ.get("LOOMWORK_DATABASE_URL")
    if not url:
        data_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{data_dir / SQLITE_FILE}"
    return Settings(
        database_url=normalise_database_url(url),
        data_dir=data_dir,
        secret_key=_load_secret(data_dir),
        allow_private_urls=_flag("LOOMWORK_ALLOW_PRIVATE_URLS"),
        generator_timeout_s=float(os.environ.get("LOOMWORK_GENERATOR_TIMEOUT_S") or 30.0),
        max_generations=_int_setting("LOOMWORK_MAX_GENERATIONS", Settings.max_generations),
        max_generations_per_group=_int_setting(
            "LOOMWORK_MAX_GENERATIONS_PER_GROUP", Settings.max_generations_per_group
        ),
        delivery_worker=os.environ.get("LOOMWORK_DELIVERY_WORKER", "1").strip() not in ("0", "false", "no"),
        webhook_timeout_s=_seconds("LOOMWORK_WEBHOOK_TIMEOUT_S", 5.0),
        webhook_lease_s=_seconds("LOOMWORK_WEBHOOK_LEASE_S", 30.0),
        webhook_retry_base_s=_seconds("LOOMWORK_WEBHOOK_RETRY_BASE_S", 5.0),
        webhook_retry_window_s=_seconds("LOOMWORK_WEBHOOK_RETRY_WINDOW_S", 24 * 3600.0),
        changes_max_wait_s=_seconds("LOOMWORK_CHANGES_MAX_WAIT_S", 30.0),
        old_secret_keys=tuple(
            s.strip().encode() for s in os.environ.get("LOOMWORK_OLD_SECRET_KEYS", "").split(",") if s.strip()
        ),
        upload_ttl_seconds=_int_setting("LOOMWORK_UPLOAD_TTL_SECONDS", Settings.upload_ttl_seconds),
        upload_quota_count=_int_setting("LOOMWORK_UPLOAD_QUOTA_COUNT", Settings.upload_quota_count),
        upload_quota_bytes=_int_setting("LOOMWORK_UPLOAD_QUOTA_BYTES", Settings.upload_quota_bytes),
        draft_ttl_days=_int_setting("LOOMWORK_DRAFT_TTL_DAYS", Settings.draft_ttl_days),
        mcp_tools=_choice("LOOMWORK_MCP_TOOLS", ("compact", "full"), Settings.mcp_tools),
    )


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name} must be a number of seconds, not {raw!r}.") from None
