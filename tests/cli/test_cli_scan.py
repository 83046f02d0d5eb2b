"""The command-line contract: check, batch (all formats, bad lines, exit codes), rules, storage."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, home: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {"MEDSPA_SCAN_HOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "scanner", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-home")


def test_check_blocks_the_issue_example_and_stores_it(cli_home):
    r = run("check", "Thanks Sarah! So glad you loved your lip filler, see you at your touch-up!", "--kind", "reply",
            "--channel", "google", "--in-reply-to", "Got lip filler here last week, obsessed", "--author", "Sarah K.",
            "--format", "json", home=cli_home)
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    assert out["verdict"] == "block"
    assert {"patient_identifier", "relationship_confirmation", "treatment_disclosure"} <= {
        f["category"] for f in out["findings"]}
    assert all({"rule_id", "category", "severity", "message", "evidence", "source", "citation"} <= f.keys()
               for f in out["findings"])
    assert out["suggested_text"]
    db = sqlite3.connect(cli_home / "medspa.db")
    verdicts = [row[0] for row in db.execute("select verdict from items")]
    assert "block" in verdicts
    assert db.execute("select count(*) from findings").fetchone()[0] >= 3


def test_check_text_format_and_pass_exit_code(cli_home):
    r = run("check", "Botox special: $10/unit this week only! Book with Dr. Lee at 662-555-0100.", "--kind", "post",
            home=cli_home)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith("verdict: pass")


@pytest.mark.parametrize(("args", "message"), [
    (["check", ""], b"empty"),
    (["check", "hi", "--kind", "tweet"], b"invalid choice"),
    (["check", "hi", "--image", "/nonexistent.jpg"], b"no such file"),
    (["batch", "/nonexistent.jsonl"], b"no such file"),
    (["rules", "explain", "ZZZ999"], b"no rule"),
])
def test_usage_errors_exit_2_without_traceback(cli_home, args, message):
    r = run(*args, home=cli_home)
    assert r.returncode == 2
    assert message in r.stderr
    assert b"Traceback" not in r.stderr


def test_batch_reports_bad_lines_and_scans_the_rest(cli_home, tmp_path):
    lines = [
        json.dumps({"id": "a", "kind": "reply", "channel": "google", "text": "Thank you for the kind review!"}),
        "this is not json",
        json.dumps({"id": "b", "kind": "reply", "channel": "myspace", "text": "hi"}),
        json.dumps({"id": "c", "kind": "reply", "channel": "yelp", "text": "Thanks for coming in, Jo!", "author": "Jo P."}),
    ]
    data = ("\n".join(lines) + "\n").encode() + b'{"id": "d", "text": "caf\xe9"}\n'
    f = tmp_path / "drafts.jsonl"
    f.write_bytes(data)
    r = run("batch", str(f), "--format", "jsonl", home=cli_home)
    assert r.returncode == 2  # input errors were reported
    err = r.stderr.decode()
    assert f"{f}:2: not JSON" in err and f"{f}:3: channel: unknown channel" in err and f"{f}:5: not valid UTF-8" in err
    out = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert [o["id"] for o in out] == ["a", "c"]
    assert out[0]["verdict"] == "pass" and out[1]["verdict"] == "block"


@pytest.mark.parametrize("fmt", ["json", "csv", "sarif"])
def test_batch_formats(cli_home, tmp_path, fmt):
    f = tmp_path / "in.jsonl"
    f.write_text(json.dumps({"id": "x1", "kind": "reply", "channel": "google", "author": "Amy T.",
                             "text": "So glad you loved your results, Amy!"}) + "\n")
    out = tmp_path / f"out.{fmt}"
    r = run("batch", str(f), "--format", fmt, "-o", str(out), home=cli_home)
    assert r.returncode == 1, r.stderr
    body = out.read_text()
    if fmt == "json":
        assert json.loads(body)[0]["verdict"] == "block"
    elif fmt == "csv":
        assert body.splitlines()[0].startswith("id,verdict,rule_id") and "x1,block" in body
    else:
        sarif = json.loads(body)
        run0 = sarif["runs"][0]
        assert sarif["version"] == "2.1.0" and run0["results"]
        rule_ids = {r["id"] for r in run0["tool"]["driver"]["rules"]}
        assert {res["ruleId"] for res in run0["results"]} <= rule_ids


def test_a_one_megabyte_text_is_rejected_with_the_limit(cli_home, tmp_path):
    f = tmp_path / "big.jsonl"
    f.write_text(json.dumps({"id": "big", "kind": "post", "channel": "instagram", "text": "a" * 1_000_001}) + "\n")
    r = run("batch", str(f), home=cli_home)
    assert r.returncode == 2 and b"limit" in r.stderr and b"Traceback" not in r.stderr


def test_rules_list_and_explain(cli_home):
    r = run("rules", "list", home=cli_home)
    assert r.returncode == 0 and b"PAT001" in r.stdout and b"ADV001" in r.stdout
    r = run("rules", "explain", "PAT001", home=cli_home)
    text = r.stdout.decode()
    assert "Why it matters:" in text and "Write instead:" in text and "Fires on:" in text and "Stays silent on:" in text
