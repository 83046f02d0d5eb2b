"""Shared fixtures: an isolated data home per test and one loaded Scanner per test session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent



def _shared() -> Path:
    """../shared next to the checkout, else $MEDSPA_SHARED, else /work/shared (CI clones elsewhere)."""
    for cand in (os.environ.get("MEDSPA_SHARED"), ROOT.parent / "shared", "/work/shared"):
        if cand and Path(cand).is_dir():
            return Path(cand)
    return ROOT.parent / "shared"


SHARED = _shared()


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    """A fresh $MEDSPA_SCAN_HOME for one test."""
    monkeypatch.setenv("MEDSPA_SCAN_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


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
