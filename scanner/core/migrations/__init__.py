"""Schema migrations of the store, run by Alembic when a store is opened for writing.

`upgrade(engine)` brings any database (new, or made by an earlier version) to the newest revision in
versions/, inside one transaction that holds the database's write lock (SQLite: BEGIN IMMEDIATE;
PostgreSQL: an advisory lock), so two processes opening a new database at once both succeed. A database
already at the newest revision costs one SELECT (Alembic is not even imported).

Writing a revision: the baseline (0001) creates every missing table from the current models, so a
revision that alters a table must check the live columns first (a new database already has them);
see 0002. Data moves that need the registry's vault or the audit log stay with their module
(registry/authorizations.py: ensure_schema).
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

HEAD = "0002"  # the newest revision in versions/ (tests/core/test_migrations.py checks they agree)
PG_LOCK = 0x6D656474


def current(conn: Connection) -> str | None:
    """The database's revision, or None before Alembic ever ran on it."""
    try:
        with conn.begin_nested():
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):  # no alembic_version table yet
        return None


def _run(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def upgrade(engine: Engine) -> None:
    """Migrate to HEAD; a no-op when the database is there already."""
    with engine.connect() as conn:
        if current(conn) == HEAD:
            return
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "sqlite":
                    conn.exec_driver_sql("BEGIN IMMEDIATE")  # waits up to the busy timeout for another writer
                elif engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK})
                if current(conn) != HEAD:
                    _run(conn)
            return
        except (OperationalError, IntegrityError) as exc:  # a parallel first start got there first
            if attempt == 4 or not any(w in str(exc.orig).lower() for w in ("already exists", "unique", "locked")):
                raise
