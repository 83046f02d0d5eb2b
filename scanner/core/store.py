"""Persistence: SQLite by default, PostgreSQL for several servers ($MEDSPA_SCAN_DB=postgresql+psycopg://…),
for runs, scanned items and their findings.

Other modules (registry, audit, users, api keys, decisions) declare their tables on the same `Base`
and reach the database through `Store`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from . import config
from .at_rest import SealedFinding, SealedText, ensure_key
from .models import Item, ScanResult
from .sqlite_file import StoreError, make_private, read_only_url, sqlite_path
from .sqlite_file import inspect as inspect_file

__all__ = ["Base", "Run", "Store", "StoreError", "StoredFinding", "StoredItem", "content_hash", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _process_mark(pid: int) -> str | None:
    """When process `pid` started (Linux /proc), to tell it from a later process given the same id."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(owner: dict[str, Any]) -> bool:
    pid, mark = int(owner.get("pid") or 0), owner.get("mark")
    if pid <= 0:
        return True  # unknown: never taken for dead
    if mark is not None:
        return _process_mark(pid) == mark
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class Base(DeclarativeBase):
    pass


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(40))  # cli-check, cli-batch, api, crawl, dashboard
    actor: Mapped[str] = mapped_column(String(200), default="")
    rule_pack: Mapped[str] = mapped_column(String(80), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="running")
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    items: Mapped[list[StoredItem]] = relationship(back_populates="run")


class StoredItem(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    item_id: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(SealedText, default="")  # PHI: encrypted at rest (at_rest.py)
    in_reply_to: Mapped[str | None] = mapped_column(SealedText, nullable=True)
    author: Mapped[str | None] = mapped_column(SealedText, nullable=True)
    images: Mapped[list[str]] = mapped_column(JSON, default=list)
    permalink: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    source: Mapped[str] = mapped_column(String(40), default="cli")
    submitted_by: Mapped[str] = mapped_column(String(200), default="")
    verdict: Mapped[str] = mapped_column(String(10), index=True)
    suggested_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    rule_pack: Mapped[str] = mapped_column(String(80), default="")
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    review_status: Mapped[str] = mapped_column(String(20), default="open")  # open, approved, rejected
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    run: Mapped[Run] = relationship(back_populates="items")
    findings: Mapped[list[StoredFinding]] = relationship(back_populates="item", cascade="all, delete-orphan")


class StoredFinding(Base):
    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_pk: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(20), index=True)
    category: Mapped[str] = mapped_column(String(40), index=True)
    severity: Mapped[str] = mapped_column(String(10), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(SealedFinding)  # its evidence encrypted at rest
    waived: Mapped[bool] = mapped_column(Boolean, default=False)
    item: Mapped[StoredItem] = relationship(back_populates="findings")


def content_hash(item: Item) -> str:
    payload = json.dumps(
        [item.kind, item.channel, item.text, item.in_reply_to, item.author, item.images], ensure_ascii=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@compiles(String, "postgresql")
def _pg_varchar(_type: String, _compiler: Any, **_kw: Any) -> str:
    """VARCHAR without a length on PostgreSQL: lengths are hints (SQLite never enforced them), so a long
    file name or id is stored on every backend instead of failing on one."""
    return "VARCHAR"


# Transaction-level advisory lock ids (PostgreSQL): one for `session(immediate=True)`, one for creating tables.
_PG_WRITE_LOCK = 0x6D656473  # (0x6D656474 is the schema migrations' lock: core/migrations)


def _sqlite_pragmas(engine: Engine, read_only: bool, temp_tables: list[str]) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        if not read_only:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        for ddl in temp_tables:  # read-only: tables this version adds exist empty, per connection
            cur.execute(ddl)
        cur.close()


class Store:
    """A handle on the database; tables are created on first use. A SQLite file that cannot be written
    is opened read-only (`read_only`): reading commands work, writing ones fail with a clear message."""

    def __init__(self, url: str | None = None):
        self.url = url or config.database_url()
        # import modules that declare tables so create_all sees them
        from . import tables as _tables  # noqa: F401

        path = sqlite_path(self.url)
        self.read_only = False
        if path is not None:
            self.read_only = inspect_file(path)
        temp_tables: list[str] = []
        if self.read_only:
            assert path is not None
            self.engine = create_engine(read_only_url(path), future=True)
            temp_tables = self._missing_tables_ddl()
        else:
            self.engine = create_engine(self.url, future=True)
        if self.engine.dialect.name == "sqlite":
            _sqlite_pragmas(self.engine, self.read_only, temp_tables)
        if not self.read_only:
            self._create_tables()
            if path is not None:
                make_private(path)
            ensure_key(self)  # the key that seals stored content (at_rest.py)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if not self.read_only:
            self.fail_interrupted_runs()

    def _missing_tables_ddl(self) -> list[str]:
        from sqlalchemy import inspect
        from sqlalchemy.schema import CreateTable

        have = set(inspect(self.engine).get_table_names())
        self.engine.dispose()
        return [str(CreateTable(t).compile(dialect=self.engine.dialect)).replace("CREATE TABLE", "CREATE TEMP TABLE", 1)
                for t in Base.metadata.sorted_tables if t.name not in have]

    def _create_tables(self) -> None:
        """Bring the schema to the newest revision (core/migrations, Alembic); two processes starting on
        a new database at once both succeed."""
        from .migrations import upgrade

        upgrade(self.engine)

    @contextmanager
    def session(self, immediate: bool = False) -> Iterator[Session]:
        """One transaction. With `immediate`, it holds the database's write lock from the start (SQLite:
        BEGIN IMMEDIATE, waiting up to the busy timeout; PostgreSQL: an advisory lock held until commit
        that every `immediate` session takes), so a read-then-write change (an import, an upsert) never
        races another process's: the second waits and then sees the first's rows (PostgreSQL's READ
        COMMITTED takes a new snapshot per statement, so statements after the lock see them)."""
        with self._sessions() as s, s.begin():
            if immediate and self.engine.dialect.name == "sqlite":
                s.connection().exec_driver_sql("BEGIN IMMEDIATE")
            elif immediate and self.engine.dialect.name == "postgresql":
                s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_WRITE_LOCK})
            yield s

    # -- runs -----------------------------------------------------------------------------------
    def start_run(self, source: str, actor: str = "", rule_pack: str = "") -> int:
        """A run in progress; it records which process runs it (see `fail_interrupted_runs`)."""
        owner = {"host": socket.gethostname(), "pid": os.getpid(), "mark": _process_mark(os.getpid())}
        with self.session() as s:
            run = Run(source=source, actor=actor, rule_pack=rule_pack, counts={"owner": owner})
            s.add(run)
            s.flush()
            return run.id

    def fail_interrupted_runs(self) -> list[int]:
        """Mark `failed` the runs still `running` whose process on this machine has ended (killed, crashed,
        out of memory): they no longer look in progress, and what they stored before is kept."""
        host, failed = socket.gethostname(), []
        try:
            with self.session() as s:
                for run in s.execute(select(Run).where(Run.status == "running")).scalars():
                    owner = (run.counts or {}).get("owner")
                    if not isinstance(owner, dict) or owner.get("host") != host or _alive(owner):
                        continue
                    run.status, run.finished_at = "failed", utcnow()
                    run.counts = {**run.counts, "error": "interrupted: the process ended before the run finished"}
                    failed.append(run.id)
        except SQLAlchemyError as exc:  # a busy or damaged database: opening it must still work
            logging.getLogger(__name__).warning("could not check for interrupted runs (%s)", type(exc).__name__)
        return failed

    def finish_run(self, run_id: int, counts: dict[str, Any], status: str = "done") -> None:
        with self.session() as s:
            run = s.get(Run, run_id)
            if run is not None:
                run.finished_at = utcnow()
                run.counts = counts
                run.status = status

    def save_results(
        self,
        run_id: int,
        pairs: Iterable[tuple[Item, ScanResult]],
        source: str = "cli",
        submitted_by: str = "",
    ) -> list[int]:
        """Store scanned items with their findings; returns the stored row ids."""
        rows: list[StoredItem] = []
        with self.session() as s:
            for item, result in pairs:
                row = StoredItem(
                    run_id=run_id,
                    item_id=item.id,
                    kind=item.kind,
                    channel=item.channel,
                    text=item.text,
                    in_reply_to=item.in_reply_to,
                    author=item.author,
                    images=list(item.images),
                    permalink=item.permalink,
                    source=source,
                    submitted_by=submitted_by,
                    verdict=result.verdict,
                    suggested_text=result.suggested_text,
                    rule_pack=result.rule_pack,
                    content_hash=content_hash(item),
                )
                row.findings = [
                    StoredFinding(rule_id=f.rule_id, category=f.category, severity=f.severity.value, data=f.public())
                    for f in result.findings
                ]
                s.add(row)
                rows.append(row)
            s.flush()  # one flush: the inserts go out in batches, ids in the order the rows were added
            return [row.id for row in rows]

    def latest_hash(self, item_id: str, source: str) -> tuple[str, str] | None:
        """(content_hash, rule_pack) of the newest stored copy of an item from a source."""
        with self.session() as s:
            row = s.execute(
                select(StoredItem.content_hash, StoredItem.rule_pack)
                .where(StoredItem.item_id == item_id, StoredItem.source == source)
                .order_by(StoredItem.id.desc())
                .limit(1)
            ).first()
            return (row[0], row[1]) if row else None
