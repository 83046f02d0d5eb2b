"""The hash-chained audit log on a real SQLite file and a real PostgreSQL database: intact chains verify; an entry edited, deleted in
the middle or deleted at the end (via plain SQL) is named; appends from several processes never fork
the chain; an entry written inside a change's transaction rolls back with it."""
from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from scanner import Store
from scanner.cli.main import main
from scanner.core import audit
from tests.conftest import raw_sql

pytestmark = pytest.mark.backends


@pytest.fixture()
def store(home) -> Store:
    s = Store()
    for i in range(1, 6):
        audit.record(s, "carol", "registry.add", f"T{i}", {"reason": "test", "when": date(2024, 1, i)})
    return s


def sql(home, statement: str) -> None:
    raw_sql(home, statement)


def test_intact_chain_and_what_an_entry_says(store):
    assert audit.verify(store) == []
    e = audit.entries(store, limit=1)[0]
    assert (e["id"], e["actor"], e["action"], e["target"]) == (5, "carol", "registry.add", "T5")
    assert e["detail"] == {"reason": "test", "when": "2024-01-05"}  # dates kept as text, hash still matches
    assert [x["target"] for x in audit.entries(store, action="registry.")] == ["T5", "T4", "T3", "T2", "T1"]
    assert audit.entries(store, target="T2")[0]["id"] == 2


def test_an_edited_entry_is_named(store, home):
    sql(home, "update audit_log set actor='mallory' where id=2")
    problems = audit.verify(store)
    assert len(problems) == 1 and problems[0].startswith("entry 2 (registry.add") and "edited" in problems[0]


def test_an_edited_and_rehashed_entry_breaks_the_next_link(store, home):
    sql(home, "update audit_log set hash='" + "f" * 64 + "' where id=3")
    problems = audit.verify(store)
    assert any(p.startswith("entry 3 ") for p in problems)
    assert any(p.startswith("entry 4: does not chain to entry 3") for p in problems)


def test_a_deleted_entry_in_the_middle_is_named(store, home):
    sql(home, "delete from audit_log where id=3")
    assert audit.verify(store) == ["entry 4: entry 3 before it deleted (the chain link is broken)"]


def test_a_deleted_last_entry_is_named(store, home):
    sql(home, "delete from audit_log where id=5")
    assert audit.verify(store) == ["entry 5: deleted (the log ends at entry 4; 5 entries were written)"]
    audit.record(store, "dave", "registry.revoke", "T9", {})  # appending afterwards does not hide it
    assert audit.verify(store)


def test_audit_verify_command_exits_1_and_names_the_entry(store, home, capsys):
    assert main(["audit", "verify"]) == 0
    assert "intact (5 entries)" in capsys.readouterr().out
    sql(home, "update audit_log set detail='{\"reason\": \"nothing to see\"}' where id=4")
    assert main(["audit", "verify"]) == 1
    assert "entry 4 (registry.add" in capsys.readouterr().out
    assert main(["audit", "list", "--limit", "2", "--format", "json"]) == 0
    assert '"target": "T5"' in capsys.readouterr().out


def test_a_log_written_before_the_head_existed_still_verifies_and_continues(store, home):
    sql(home, "delete from audit_head")
    assert audit.verify(store) == []
    audit.record(store, "erin", "users.add", "x", {})
    assert audit.verify(store) == [] and len(audit.entries(store)) == 6


def test_an_entry_in_a_failed_transaction_rolls_back(store):
    with pytest.raises(RuntimeError), store.session() as s:
        audit.record(store, "frank", "registry.import", "x.csv", {}, session=s)
        raise RuntimeError("the change failed")
    assert len(audit.entries(store)) == 5 and audit.verify(store) == []


def test_concurrent_appends_from_several_processes_keep_one_chain(home):
    code = ("import sys; from scanner.core import audit; from scanner.core.store import Store; s = Store(); "
            "[audit.record(s, f'p{sys.argv[1]}', 'test.append', str(i), {}) for i in range(25)]")
    Store()  # tables exist before the writers start
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)]) for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    store = Store()
    assert len(audit.entries(store)) == 100
    assert audit.verify(store) == []
