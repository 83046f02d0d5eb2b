"""Shared fixtures: an isolated data home per test and one loaded Scanner per test session."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent



def _shared() -> Path:
    """../shared next to the checkout, else $MEDSPA_SHARED, else /work/shared (CI clones elsewhere)."""
    for cand in (os.environ.get("MEDSPA_SHARED"), ROOT.parent / "shared", "/work/shared"):
        if cand and Path(cand).is_dir():
            return Path(cand)
    return ROOT.parent / "shared"


SHARED = _shared()


# -- database backends --------------------------------------------------------------------------------
# A test module with `pytestmark = pytest.mark.backends` runs each test that uses `home` twice: on a
# SQLite file in the home and on a fresh database in a real PostgreSQL server (started once per test
# process, see _pg.py), through $MEDSPA_SCAN_DB. A test marked `sqlite_only` (file permissions, the
# SQLite file's own layout) runs once. MEDSPA_TEST_BACKENDS=sqlite runs only the SQLite half (a machine
# without PostgreSQL); otherwise missing PostgreSQL binaries fail the PostgreSQL half, never skip it.
def _backends() -> list[str]:
    want = [b.strip() for b in os.environ.get("MEDSPA_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]
    bad = set(want) - {"sqlite", "postgresql"}
    if bad or not want:
        raise pytest.UsageError(f"MEDSPA_TEST_BACKENDS={os.environ.get('MEDSPA_TEST_BACKENDS')!r}: "
                                "expected a comma-separated list of sqlite, postgresql")
    return want


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "backends: run this module's `home` tests on SQLite and PostgreSQL")
    config.addinivalue_line("markers", "sqlite_only: a test about the SQLite file itself")


def pytest_generate_tests(metafunc) -> None:
    marks = {m.name for m in metafunc.definition.iter_markers()}
    if "backends" not in marks or "sqlite_only" in marks:
        return
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", _backends(), indirect=True)
    if "module_backend" in metafunc.fixturenames:  # a module-wide server: started once per backend
        metafunc.parametrize("module_backend", _backends(), indirect=True, scope="module")


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL cluster per test process (each xdist worker has its own)."""
    from tests._pg import PgServer, PgUnavailable

    try:
        server = PgServer()
    except PgUnavailable as exc:
        pytest.fail(f"PostgreSQL half of the tests cannot run: {exc}. Install PostgreSQL (`.ci/run` does as "
                    "root) or run only SQLite with MEDSPA_TEST_BACKENDS=sqlite", pytrace=False)
    yield server
    server.stop()


@pytest.fixture()
def backend(request) -> str:
    """`sqlite` (the default) or `postgresql` when the module runs on both backends."""
    return getattr(request, "param", "sqlite")


@pytest.fixture()
def home(tmp_path, monkeypatch, backend, request) -> Iterator[Path]:
    """A fresh $MEDSPA_SCAN_HOME for one test (and, on PostgreSQL, a fresh database as $MEDSPA_SCAN_DB)."""
    monkeypatch.setenv("MEDSPA_SCAN_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    if backend != "postgresql":
        monkeypatch.delenv("MEDSPA_SCAN_DB", raising=False)
        yield tmp_path / "home"
        return
    server = request.getfixturevalue("pg_server")
    url = server.create_db()
    monkeypatch.setenv("MEDSPA_SCAN_DB", url)
    yield tmp_path / "home"
    server.drop_db(url)  # WITH (FORCE): connections the test's stores left open are ended


@pytest.fixture(scope="module")
def module_backend(request) -> str:
    """Like `backend`, for module-scoped fixtures (a server shared by a module's tests)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="module")
def module_db(module_backend, request, tmp_path_factory) -> Iterator[str]:
    """A database URL for a module-scoped fixture: a SQLite file, or a fresh PostgreSQL database."""
    if module_backend != "postgresql":
        yield f"sqlite:///{tmp_path_factory.mktemp('module-db') / 'medspa.db'}"
        return
    server = request.getfixturevalue("pg_server")
    url = server.create_db()
    yield url
    server.drop_db(url)


def db_url(home: Path, name: str = "medspa") -> str:
    """The URL a test's store uses: $MEDSPA_SCAN_DB (PostgreSQL half), else a SQLite file in `home`."""
    return os.environ.get("MEDSPA_SCAN_DB") or f"sqlite:///{home / (name + '.db')}"


def raw_sql(home: Path, statement: str) -> list[tuple[Any, ...]]:
    """Run one statement on the test's database behind the scanner's back (tampering, reading what is
    really stored); the rows it returns."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url(home))
    try:
        with engine.begin() as con:
            res = con.execute(text(statement))
            return [tuple(r) for r in res] if res.returns_rows else []
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def session_home(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("session-home")
    os.environ["MEDSPA_SCAN_HOME"] = str(path)
    return path


@pytest.fixture(scope="session")
def text_scanner(session_home):
    """A Scanner with the example registry (rules/examples_registry.csv) imported, loaded once."""
    from scanner import Scanner, Store

    store = Store(f"sqlite:///{session_home / 'examples.db'}")
    try:
        from scanner import Registry
    except ModuleNotFoundError:
        Registry = None  # noqa: N806
    if Registry is not None and hasattr(Registry, "import_csv"):
        Registry.import_csv(store, ROOT / "rules" / "examples_registry.csv", actor="tests")
    return Scanner(store=store)


def stored_bytes(url: str) -> bytes:
    """Everything a database holds, as bytes (to show a secret never reached it): a SQLite file's bytes,
    or a PostgreSQL database's pg_dump."""
    import subprocess

    from sqlalchemy.engine import make_url

    from tests._pg import bindir

    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        return Path(str(u.database)).read_bytes()
    pg_dump = bindir() / "pg_dump" if bindir() else Path("pg_dump")
    return subprocess.run([str(pg_dump), "-h", str(u.query["host"]), "-U", str(u.username), str(u.database)],
                          capture_output=True, check=True).stdout
