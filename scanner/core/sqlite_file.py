"""The SQLite file behind a Store (and database error messages for every backend): checked before use (a corrupt file or a read-only folder is a clear
message, not an internal error), opened read-only when it cannot be written (read-only commands still
work on a read-only home), kept private (0600, with its -wal and -shm files), and database errors
turned into one line that names the file.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

SQLITE_MAGIC = b"SQLite format 3\x00"
SIDE_FILES = ("-wal", "-shm", "-journal")


class StoreError(RuntimeError):
    """The database cannot be used as it is (not SQLite, damaged, read-only, unreachable)."""


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    u = make_url(url)
    if not u.drivername.startswith("sqlite") or not u.database or u.database == ":memory:":
        return None
    if u.database.startswith("file:"):
        return Path(u.database[5:].split("?", 1)[0])
    return Path(u.database)


def check_file(path: Path) -> None:
    """Raise StoreError unless `path` is missing, empty or starts like a SQLite database."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise StoreError(f"the database at {path} is a folder, not a SQLite file") from None
    except PermissionError:
        raise StoreError(f"the database at {path} cannot be read (permission denied)") from None
    if head and head != SQLITE_MAGIC:
        raise StoreError(f"the database at {path} is not a valid SQLite file; restore it from a backup or "
                         "point $MEDSPA_SCAN_HOME (or $MEDSPA_SCAN_DB) at the right one")


def is_read_only(path: Path) -> bool:
    """True when the database (or, for a new one, its folder) cannot be written by this process. Uses
    access(2), never open(2): closing any descriptor of the file would drop the POSIX locks this
    process's SQLite connections hold on it."""
    if not path.parent.is_dir():
        raise StoreError(f"the folder of the database {path} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        return True
    # SQLite also writes its -wal and -shm files (and a new database) beside the file
    return not os.access(path.parent, os.W_OK | os.X_OK)


_INSPECTED: dict[str, bool] = {}


def inspect(path: Path) -> bool:
    """Check the file once per process (see `is_read_only` for why not more often); True when read-only."""
    key = str(path.resolve())
    if key not in _INSPECTED:
        check_file(path)
        _INSPECTED[key] = is_read_only(path)
    return _INSPECTED[key]


def read_only_url(path: Path) -> str:
    """A URL that opens `path` without writing anything: mode=ro when SQLite can share it read-only,
    else immutable=1 (a WAL database in a read-only folder has no -shm file to share)."""
    if not path.exists():
        raise StoreError(f"the database at {path} does not exist and its folder is read-only")
    uri = f"file:{path}?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError:
        uri = f"file:{path}?immutable=1"
    return f"sqlite:///{uri}&uri=true"


def make_private(path: Path) -> None:
    """0600 on the database and its side files (fixes files made by an older version or another umask)."""
    for p in (path, *(path.with_name(path.name + s) for s in SIDE_FILES)):
        with contextlib.suppress(OSError):
            if p.exists() and p.stat().st_mode & 0o077:
                p.chmod(0o600)


# What SQLite's message says -> what the user is told (first match wins).
_DATABASE_ERRORS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("readonly", "read-only"), "{where} is read-only; this command needs to write to it"),
    (("not a database",), "{where} is not a valid SQLite file"),
    (("malformed", "disk i/o"), "{where} is damaged ({text}); restore it from a backup"),
    (("locked", "busy", "deadlock detected", "could not serialize"),
     "{where} is busy (another process holds its write lock); try again"),
    (("unable to open",), "{where} cannot be opened (missing folder or no permission)"),
    # PostgreSQL: a server that cannot be reached, a database user without rights, a table missing
    (("connection failed", "could not connect", "connection refused", "connection to server"),
     "{where} cannot be reached ({text}); check $MEDSPA_SCAN_DB and that the server runs"),
    (("permission denied",), "{where} refused this command (the database user lacks the right: {text})"),
    (("no such table", "no such column", "does not exist"),
     "{where} has an older or foreign layout ({text}); open it once with write access to upgrade it"),
)


def _shown(url: str) -> str:
    """A server database's URL without its password (for messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is named by its scheme only
        return url.split(":", 1)[0]


def describe(exc: BaseException, url: str) -> str | None:
    """One line naming the database for an error from it; None for other errors."""
    from sqlalchemy.exc import DBAPIError

    from .crypto import KeyError_

    if isinstance(exc, StoreError | KeyError_):
        return str(exc)
    if isinstance(getattr(exc, "orig", None), KeyError_):  # raised while SQLAlchemy sealed a value
        return str(exc.orig)  # type: ignore[attr-defined]
    if not isinstance(exc, DBAPIError | sqlite3.Error):
        return None
    path = sqlite_path(url)
    where = f"the database at {path}" if path else f"the database {_shown(url)}"
    text = str(getattr(exc, "orig", exc)).lower()
    for needles, message in _DATABASE_ERRORS:
        if any(n in text for n in needles):
            return message.format(where=where, text=text)
    return f"{where} reported an error ({type(getattr(exc, 'orig', exc)).__name__})"
