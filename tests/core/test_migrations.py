"""Schema migrations (scanner/core/migrations, Alembic) on SQLite and PostgreSQL: a new store is at the newest
revision, an old database is brought there with its rows kept, and opening an up-to-date store does not
even load Alembic (every command opens the store)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, db_url, raw_sql

pytestmark = pytest.mark.backends
VERSIONS = ROOT / "scanner" / "core" / "migrations" / "versions"


def test_the_revisions_form_one_chain_ending_at_head():
    """HEAD is a constant so that an up-to-date store never loads Alembic; it must name the newest revision."""
    from alembic.script import ScriptDirectory

    from scanner.core.migrations import HEAD

    scripts = ScriptDirectory(str(VERSIONS.parent))
    assert scripts.get_heads() == [HEAD]
    chain = [r.revision for r in scripts.walk_revisions()]  # newest first, down to the baseline
    assert chain[0] == HEAD and chain[-1] == "0001" and len(chain) == len(list(VERSIONS.glob("*.py")))


def test_a_new_store_is_at_the_newest_revision_and_reopening_it_skips_alembic(home):
    from scanner import Store
    from scanner.core.migrations import HEAD

    Store(db_url(home))
    assert raw_sql(home, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    code = ("import sys; from scanner import Store; Store(sys.argv[1]); "
            "print('alembic' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, db_url(home)], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "False"


def test_a_database_from_before_the_migrations_is_upgraded_and_keeps_its_rows(home, backend):
    """A store made by an earlier version: tables from the models of the day, no alembic_version, an API
    key table without the rate-limit column. Opening it adds what is missing and keeps every row."""
    from scanner import Store
    from scanner.api import keys as apikeys
    from scanner.core.migrations import HEAD

    url = db_url(home)
    Store(url)
    raw_sql(home, "DROP TABLE alembic_version")
    raw_sql(home, "DROP TABLE api_keys")
    key_id = "SERIAL PRIMARY KEY" if backend == "postgresql" else "INTEGER NOT NULL PRIMARY KEY"
    raw_sql(home, f"CREATE TABLE api_keys (id {key_id}, name VARCHAR(120) NOT NULL UNIQUE, "
                  "key_hash VARCHAR(64) NOT NULL, created_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP)")
    raw_sql(home, "INSERT INTO api_keys (name, key_hash, created_at) VALUES ('legacy', 'x', '2026-11-01 00:00:00')")
    store = Store(url)
    assert raw_sql(home, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert raw_sql(home, "SELECT id, name, rate_per_minute FROM api_keys") == [(1, "legacy", None)]
    apikeys.create(store, "new", rate_per_minute=5)
    assert [k["name"] for k in apikeys.list_keys(store)] == ["legacy", "new"]
