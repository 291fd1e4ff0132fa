"""`loomwork backup` and `restore` for SQLite, with SQLite's online backup API.

A backup holds one read transaction on the live database for its whole copy, so it is one consistent
snapshot (every write committed before it started, none after) while the server's writers go on: in
WAL mode a reader blocks no writer. It copies into `FILE.partial`, then renames, so FILE is never half
a backup. Restore copies a backup into the configured database through the same API (never a file copy,
which would mix with a live `-wal` file), then migrates it to the current schema.

Restore takes only a sound Loomwork backup: SQLite's integrity and foreign-key checks pass, the tables of
its schema revision are all there, and that revision is one this code knows. It never replaces a database
in use: every Loomwork process that opens the database (`serve`, its supervisor and each worker, `deliver`,
`mcp`, the other commands) holds a shared `flock` on `<database>.lock` for as long as it runs, and restore
needs it exclusively, whatever `--force` says. The OS drops a lock with its process, so a crashed server
blocks nothing. Backups, like the database, are readable by their owner only (0600).

PostgreSQL has pg_dump and pg_restore; Loomwork does not reimplement them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from loomwork.db.dialect import Dialect
from loomwork.db.sqlite_files import PRIVATE_MODE, create_private, sqlite_file
from loomwork.errors import LoomworkError

PAGES_PER_STEP = 1024  # 4 MiB a step with SQLite's default 4 KiB pages: a smooth progress bar
BUSY_TIMEOUT_MS = 30_000

Progress = Callable[[int, int], None]  # (pages copied, pages in all)

SECRET_NOTICE = (
    "The server secret (.loomwork/secret.key, or LOOMWORK_SECRET_KEY) is NOT in the backup. "
    "API keys, sign-in sessions and provider secrets only work with the secret they were made "
    "under: keep a copy of it with the backup, as safely as the backup itself."
)


SQLITE_HEADER = b"SQLite format 3\x00"
LOCK_SUFFIX = ".lock"
SHOWN_PROBLEMS = 5


class BackupError(LoomworkError):
    status = 400
    code = "backup_failed"


class DatabaseInUse(BackupError):
    status = 409
    code = "database_in_use"


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL; None for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() != Dialect.SQLITE:
        return None
    if not url.database or url.database == ":memory:":
        raise BackupError("An in-memory SQLite database has nothing to back up or restore into.")
    return Path(url.database)


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    target = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    connection = sqlite3.connect(target, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return connection


def backup(database: Path, target: Path, progress: Progress | None = None, *, force: bool = False) -> int:
    """Copy the live database at `database` into `target`; returns the pages copied."""
    if not database.is_file():
        raise BackupError(f"There is no database at {database}.")
    if target.exists() and not force:
        raise BackupError(f"{target} exists; choose another file, or pass --force to replace it.")
    if target.resolve() == database.resolve():
        raise BackupError("--to must be another file than the database itself.")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = _connect(database)
    try:
        # The snapshot: a read transaction that has read, held until the copy ends. Backup steps read
        # through it, so other connections' commits neither show up in the copy nor restart it.
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()
        _create_private_file(partial)
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            pages = _copy(source, copy, progress)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            check = copy.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"The copy failed SQLite's check ({check}); the database may be damaged.")
        finally:
            copy.close()
        source.execute("ROLLBACK")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    os.replace(partial, target)
    return pages


def _create_private_file(path: Path) -> None:
    """An empty file of mode 0600 whatever the umask (SQLite takes an empty file for a new database)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)
    finally:
        os.close(fd)


def _copy(source: sqlite3.Connection, target: sqlite3.Connection, progress: Progress | None) -> int:
    copied = 0

    def step(_status: int, remaining: int, total: int) -> None:
        nonlocal copied
        copied = total - remaining
        if progress:
            progress(copied, total)

    source.backup(target, pages=PAGES_PER_STEP, progress=step)
    return copied


def check_backup(path: Path) -> str:
    """The revision of the sound Loomwork backup at `path`; refuses a corrupt file or any other one."""
    if not path.is_file():
        raise BackupError(f"There is no file at {path}.")
    with path.open("rb") as file:
        if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise BackupError(f"{path} is not a Loomwork backup: it is not a SQLite database at all.")
    try:
        connection = _connect(path, read_only=True)
        try:
            tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            row = None
            if "alembic_version" in tables:
                row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            if not row:
                raise BackupError(f"{path} is not a Loomwork backup: it has no Loomwork schema revision.")
            revision: str = row[0]
            _check_tables(path, revision, tables)
            problems = [problem for (problem,) in connection.execute(f"PRAGMA integrity_check({SHOWN_PROBLEMS})")]
            if problems != ["ok"]:
                raise BackupError(f"{path} is corrupt: SQLite's integrity check found {'; '.join(problems)}. {RETAKE}")
            dangling = connection.execute("PRAGMA foreign_key_check").fetchmany(SHOWN_PROBLEMS)
            if dangling:
                where = ", ".join(sorted({f"{table} row {rowid}" for table, rowid, *_ in dangling}))
                raise BackupError(f"{path} is corrupt: rows point at rows that are not there ({where}). {RETAKE}")
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is corrupt: SQLite cannot read it ({error}). {RETAKE}") from None
    return revision


RETAKE = "Restore another backup, or take a new one from a sound database."


def _check_tables(path: Path, revision: str, tables: set[str]) -> None:
    """Every table a database at `revision` has must be there; the revision must be one this code knows
    (which, on one line of migrations, is never newer than its head)."""
    from alembic.script import ScriptDirectory

    from loomwork.db.migrate import alembic_config

    known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if revision not in known:
        raise BackupError(
            f"{path} has schema revision {revision!r}, which this Loomwork does not know: a newer Loomwork "
            "wrote it (upgrade Loomwork first), or it is not a Loomwork backup."
        )
    missing = sorted(_tables_at(revision) - tables)
    if missing:
        raise BackupError(
            f"{path} is not a Loomwork backup: it lacks the tables {', '.join(missing)} of schema {revision}."
        )


def _tables_at(revision: str) -> set[str]:
    """The tables of an empty database migrated to `revision` (in memory: a fraction of a second)."""
    from sqlalchemy import inspect

    from loomwork.db.database import create_db_engine
    from loomwork.db.migrate import upgrade

    engine = create_db_engine("sqlite://")
    try:
        upgrade(engine, revision)
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def holds_data(path: Path) -> bool:
    """Whether the SQLite file at `path` has any row in any table (the schema alone does not count)."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    connection = _connect(path)
    try:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "AND name != 'alembic_version'"
            )
        ]
        return any(connection.execute(f'SELECT 1 FROM "{name}" LIMIT 1').fetchone() for name in tables)
    finally:
        connection.close()


def restore(
    source: Path,
    database: Path,
    progress: Progress | None = None,
    *,
    force: bool = False,
    migrate: Callable[[], None] | None = None,
) -> int:
    """Copy the backup at `source` over the database at `database`, then run `migrate`, with no other
    Loomwork process on the database throughout; returns the pages copied.

    Refuses a backup that is corrupt or not Loomwork's, a database some process holds, and a target that
    holds data unless `force`: each before the target is touched."""
    check_backup(source)
    if database.exists() and source.resolve() == database.resolve():
        raise BackupError("--from must be another file than the database itself.")
    database.parent.mkdir(parents=True, exist_ok=True)
    with sole_use(database):
        if holds_data(database) and not force:
            raise BackupError(
                f"The database {database} already holds data; restore would replace all of it. Pass --force to do so."
            )
        create_private(database)
        backup_file = _connect(source, read_only=True)
        target = _connect(database)
        try:
            pages = _copy(backup_file, target, progress)
        finally:
            target.close()
            backup_file.close()
        if migrate:
            migrate()
    return pages


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + LOCK_SUFFIX)


def _open_lock(database: Path) -> int:
    fd = os.open(lock_path(database), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_MODE)
    with contextlib.suppress(OSError):  # another user's lock file: locking it still works
        os.fchmod(fd, PRIVATE_MODE)
    return fd


class DatabaseHold:
    """A shared lock on the database's lock file, held while this process uses the database."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the lock
            self._fd = None


def hold_database(database_url: str) -> DatabaseHold | None:
    """Take the shared hold every process that serves or changes the database keeps for its lifetime (None
    for PostgreSQL, an in-memory database or one whose directory cannot take a lock file). Raises
    DatabaseInUse while a restore is replacing the file."""
    path = sqlite_file(database_url)
    if path is None:
        return None
    try:
        fd = _open_lock(path)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseInUse(
            f"A `loomwork restore` is replacing {path} right now; start again once it has finished."
        ) from None
    return DatabaseHold(fd)


@contextmanager
def sole_use(database: Path) -> Iterator[None]:
    """Hold the database's lock exclusively, or refuse while any Loomwork process holds it."""
    fd = _open_lock(database)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holders = _holders(lock_path(database))
            who = f" (process {', '.join(map(str, holders))})" if holders else ""
            raise DatabaseInUse(
                f"A Loomwork process{who} is using {database}: a `loomwork serve` (or `deliver`, `mcp`, "
                "or another command) would go on answering from the file restore replaces. Stop it first "
                "(SIGTERM, e.g. `systemctl stop loomwork` or Ctrl-C; it drains its requests), then run "
                "restore again. --force does not override this."
            ) from None
        yield
    finally:
        os.close(fd)


def _holders(lock: Path) -> list[int]:
    """The processes holding a flock on `lock`, from Linux's /proc/locks (empty where there is none)."""
    try:
        inode = lock.stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    holders = set()
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  READ  4242 08:01:1234 0 EOF" (a blocked waiter's line has "->" in front)
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == str(inode):
            holders.add(int(fields[4]))
    return sorted(holders)
