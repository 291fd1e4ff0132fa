"""SQLite's files on disk are readable by their owner only (mode 0600), whatever the umask.

The database holds API-key hashes and encrypted provider secrets. SQLite creates a new database file with
the process's umask (0644 under the usual 022), and its `-wal`, `-shm` and `-journal` files with the
database file's own mode. So the file is made 0600 before SQLite first opens it, and an existing one (and
any `-wal`/`-shm` beside it) loses its group and other bits: from then on SQLite makes its companions 0600.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from loomwork.db.dialect import Dialect

PRIVATE_MODE = 0o600
COMPANIONS = ("-wal", "-shm", "-journal")


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL opens; None for another database, an in-memory one or a `file:` URI."""
    parsed = make_url(url)
    if parsed.get_backend_name() != Dialect.SQLITE or parsed.query.get("uri"):
        return None
    if not parsed.database or parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def create_private(path: Path) -> None:
    """Create `path` empty with mode 0600 (an empty file is a new SQLite database), or narrow the mode of
    the one there and of its companions. Quietly does nothing where it may not (a missing directory, a
    file of another user): SQLite's own open then says what is wrong."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_MODE)
    except FileExistsError:
        pass
    except OSError:
        return
    else:
        try:
            os.fchmod(fd, PRIVATE_MODE)  # the umask may have taken an owner bit too
        finally:
            os.close(fd)
    for file in (path, *(path.with_name(path.name + suffix) for suffix in COMPANIONS)):
        narrow(file)


def narrow(path: Path) -> None:
    """Take away the group and other bits of an existing file (0644 -> 0600; a read-only 0400 stays)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
    except OSError:  # gone meanwhile, or not ours
        pass
