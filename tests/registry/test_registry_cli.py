"""`medspa-scan registry ...` as a user runs it: import (exit 2 naming row and field), list, show, add,
revoke, export (re-importable), expiring, with --as-of and the actor recorded in the audit log."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from scanner import Store
from scanner.cli.main import main
from scanner.core import audit
from tests.conftest import ROOT, SHARED

pytestmark = pytest.mark.backends

CORPUS_REGISTRY = SHARED / "corpus" / "registry.csv"


@pytest.fixture()
def imported(home, capsys, monkeypatch):
    monkeypatch.setenv("USER", "casey")
    assert main(["registry", "import", str(CORPUS_REGISTRY), "--reason", "quarterly EHR export"]) == 0
    out = capsys.readouterr().out
    assert "imported 8 authorization(s) for 8 patient(s): 8 new" in out
    return home


def test_console_command_imports_and_rejects_a_bad_row(home, tmp_path):
    env = {**os.environ, "MEDSPA_SCAN_HOME": str(home)}
    cmd = [sys.executable, "-m", "scanner", "registry", "import"]
    ok = subprocess.run([*cmd, str(CORPUS_REGISTRY)], env=env, capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.csv"
    lines = CORPUS_REGISTRY.read_text().splitlines()
    lines[4] = lines[4].replace("2024-04-02", "04/02/2024")  # P004's signed_on
    bad.write_text("\n".join(lines) + "\n")
    res = subprocess.run([*cmd, str(bad)], env=env, capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2
    assert res.stderr.strip() == ("medspa-scan: error: bad.csv line 5 (row 4): signed_on: not an ISO date "
                                  "(YYYY-MM-DD): '04/02/2024'")


def test_list_with_status_and_as_of(imported, capsys):
    assert main(["registry", "list", "--as-of", "2025-01-01", "--format", "json"]) == 0
    rows = {r["patient_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["P005"]["status"] == "expired" and rows["P006"]["status"] == "revoked"
    assert rows["P001"]["authorization_id"] == "P001/2023-03-14"
    assert main(["registry", "list", "--as-of", "2020-06-01", "--status", "valid"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 authorization(s) as of 2020-06-01") and "P005/2019-05-01" in out  # before expiry


def test_show_add_revoke(imported, capsys):
    assert main(["registry", "show", "P007", "--as-of", "2025-01-01"]) == 0
    out = capsys.readouterr().out
    assert "Sofia Alvarez" in out and "@sofiaglowup" in out and "P007/2024-06-18: valid" in out
    assert main(["registry", "add", "P009", "--name", "Ana Cruz", "--handles", "@ana.cruz", "--purposes",
                 "testimonial;name_in_marketing", "--channels", "instagram", "--signed-on", "2025-01-10",
                 "--expires-on", "2026-01-10", "--reason", "signed at intake", "--actor", "front.desk"]) == 0
    assert capsys.readouterr().out.strip() == "added authorization P009/2025-01-10"
    assert main(["registry", "revoke", "P009", "--on", "2025-03-01", "--reason", "asked by email"]) == 0
    assert capsys.readouterr().out.strip() == "revoked P009/2025-01-10 as of 2025-03-01"
    assert main(["registry", "show", "P009", "--as-of", "2025-03-01", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "revoked" and shown["authorizations"][0]["revoke_reason"] == "asked by email"
    log = audit.entries(Store(), limit=3)
    assert [(e["actor"], e["action"], e["target"]) for e in log] == [
        ("casey", "registry.revoke", "P009"), ("front.desk", "registry.add", "P009"),
        ("casey", "registry.import", "registry.csv")]
    assert log[2]["detail"]["reason"] == "quarterly EHR export" and log[2]["detail"]["inserted"] == 8


@pytest.mark.parametrize(("argv", "message"), [
    (["registry", "show", "P404"], "no registry record 'P404'"),
    (["registry", "revoke", "P404", "--reason", "x"], "no registry record 'P404'"),
    (["registry", "revoke", "P006", "--on", "2023-01-01", "--reason", "x"], "already revoked on or before"),
    (["registry", "add", "P001", "--purposes", "tv", "--channels", "all", "--signed-on", "2025-01-01"],
     "purposes: unknown purpose 'tv'"),
    (["registry", "import", "/nonexistent.csv"], "no such file"),
])
def test_bad_input_is_one_line_and_exit_2(imported, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("medspa-scan: error: ") and message in err and err.count("\n") == 1


def test_export_round_trips_through_import(imported, capsys, tmp_path, monkeypatch):
    main(["registry", "revoke", "P002", "--on", "2025-02-01", "--reason", "moved"])
    out = tmp_path / "export.csv"
    assert main(["registry", "export", "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 8 and rows[0]["patient_id"] == "P001" and rows[1]["revoked_on"] == "2025-02-01"
    monkeypatch.setenv("MEDSPA_SCAN_HOME", str(tmp_path / "other-home"))
    assert main(["registry", "import", str(out)]) == 0
    capsys.readouterr()
    assert main(["registry", "export"]) == 0
    assert capsys.readouterr().out == out.read_text()


def test_expiring_within(imported, capsys, tmp_path):
    assert main(["registry", "expiring", "--within", "30d", "--as-of", "2099-12-15"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("4 authorization(s) in force on 2099-12-15 expire by 2100-01-14")
    assert "P001/2023-03-14" in out and "P006" not in out  # revoked ones are not "expiring"
    assert main(["registry", "expiring", "--within", "30d", "--as-of", "2025-01-01"]) == 0
    assert capsys.readouterr().out.startswith("0 authorization(s)")
    assert main(["registry", "expiring", "--within", "2w", "--as-of", "2021-06-20", "--format", "json"]) == 0
    assert [r["patient_id"] for r in json.loads(capsys.readouterr().out)] == ["P005"]
