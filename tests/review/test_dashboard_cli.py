"""`make run` / `python -m scanner.demo` and `medspa-scan dashboard` without a browser: seeding only an
empty store, the printed verdicts, and clear one-line errors for an unusable address."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.conftest import ROOT


def run(args: list[str], home, **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, MEDSPA_SCAN_HOME=str(home), **env)
    full.pop("MEDSPA_SCAN_DB", None)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=full, capture_output=True, text=True, timeout=300)


def test_demo_seeds_an_empty_store_once(home):
    first = run(["-m", "scanner.demo"], home, MEDSPA_SCAN_NO_DASHBOARD="1")
    assert first.returncode == 0, first.stderr
    assert "block  demo-01" in first.stdout and "pass   demo-02" in first.stdout
    from scanner import Store
    from scanner.review import accounts
    from scanner.review import queue as review

    store = Store()
    assert {u["name"] for u in accounts.list_users(store)} == {"manager", "marketer", "admin"}
    runs, queued = len(review.runs(store)), len(review.queue(store))
    assert runs == 3 and {i["source"] for i in review.queue(store)} == {"api", "crawl", "dashboard"}
    second = run(["-m", "scanner.demo"], home, MEDSPA_SCAN_NO_DASHBOARD="1")
    assert second.returncode == 0 and "Using the existing data" in second.stdout
    assert len(review.runs(store)) == runs and len(review.queue(store)) == queued  # nothing scanned twice


def test_dashboard_refuses_a_busy_port_in_one_line(home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run(["-m", "scanner", "dashboard", "--port", str(port)], home)
    assert r.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr
    r = run(["-m", "scanner", "dashboard", "--port", "70000"], home)
    assert r.returncode == 2 and "--port 70000" in r.stderr


# -- README and --help examples, run exactly as printed ---------------------------------------------------
def _workdir(tmp_path):
    """A folder that looks like the checkout to a user (its .venv and rules), so `./.demo-home` lands here."""
    work = tmp_path / "checkout"
    work.mkdir()
    for name in (".venv", "rules"):
        (work / name).symlink_to(ROOT / name)
    return work


def _bash(script: str, cwd, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")  # as if activated
    for k in ("MEDSPA_SCAN_HOME", "MEDSPA_SCAN_DB"):
        env.pop(k, None)
    env["HOME"] = str(cwd)  # the default data folder, if an example used it, stays in the test's folder
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _readme_block(after: str) -> list[str]:
    """The first indented code block after the line starting with `after`, as lines (continuations joined)."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(after))
    block: list[str] = []
    for line in lines[start + 1:]:
        if line.startswith("    "):
            block.append(line[4:])
        elif block and not line.strip():
            break
    joined: list[str] = []
    for line in block:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        else:
            joined.append(line)
    return joined


def test_readme_usage_examples_work_as_printed_and_share_the_demo_home(tmp_path):
    work = _workdir(tmp_path)
    commands = [c for c in _readme_block("## Using it") if c.startswith(("export ", ".venv/bin/medspa-scan"))]
    assert commands[0] == "export MEDSPA_SCAN_HOME=./.demo-home" and len(commands) >= 4
    for command in commands[1:]:
        r = _bash(f"{commands[0]}\n{command}", work)
        assert r.returncode in (0, 1), (command, r.stderr)  # 1 = findings: a linter's exit status
        assert "Traceback" not in r.stderr and r.stdout.strip(), command
    from scanner import Store
    from scanner.review import queue as review

    stored = Store(f"sqlite:///{work / '.demo-home' / 'medspa.db'}")  # the folder `make run` shows
    assert {r["source"] for r in review.runs(stored)} >= {"cli-check", "cli-batch"}


def test_readme_first_example_prints_what_the_readme_shows(tmp_path):
    work = _workdir(tmp_path)
    block = _readme_block("comes with its evidence")
    command = block[0].removeprefix("$ ")
    r = _bash(command, work)
    assert r.returncode == 1, r.stderr
    out = [line.strip() for line in r.stdout.splitlines()]
    for shown in block[1:]:
        if shown.strip() == "…":
            continue
        expected = shown.strip().split("…")[0].strip()
        assert any(line.startswith(expected) for line in out), (expected, r.stdout)


def _help_examples(args: list[str]) -> list[str]:
    r = subprocess.run([str(ROOT / ".venv" / "bin" / "medspa-scan"), *args, "--help"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    text = r.stdout.split("examples", 1)[1]
    return [line.strip() for line in text.splitlines() if line.startswith("  ") and "medspa-scan" in line]


def test_help_shows_defaults_and_its_examples_work_as_printed(tmp_path):
    work = _workdir(tmp_path)
    check_help = subprocess.run([str(ROOT / ".venv" / "bin" / "medspa-scan"), "check", "--help"],
                                capture_output=True, text=True, timeout=60).stdout
    assert "(default: post)" in check_help and "(default: instagram)" in check_help
    examples = {" ".join(cmd): _help_examples(cmd) for cmd in ([], ["check"], ["batch"], ["rules"])}
    assert all(examples.values()), examples
    for command in dict.fromkeys(e for group in examples.values() for e in group):
        r = _bash(f"export MEDSPA_SCAN_HOME=./.help-home\n{command}", work)
        assert r.returncode in (0, 1), (command, r.stderr)
        assert "Traceback" not in r.stderr and r.stdout.strip(), command


def test_batch_says_it_is_loading_models_before_its_progress_bar(tmp_path):
    work = _workdir(tmp_path)
    r = _bash("export MEDSPA_SCAN_HOME=./.h\nhead -n 3 rules/demo/drafts.jsonl | medspa-scan batch - > out.jsonl", work)
    assert r.returncode in (0, 1), r.stderr
    assert "loading models…" in r.stderr and "scanning" in r.stderr
    assert r.stderr.index("loading models…") < r.stderr.index("scanning")


def test_demo_try_lines_work_as_printed(tmp_path):
    work = _workdir(tmp_path)
    env = dict(os.environ, MEDSPA_SCAN_HOME=str(work / ".demo-home"))
    env.pop("MEDSPA_SCAN_DB", None)
    code = "from scanner.review import demo_data; print(demo_data.try_lines())"
    shown = subprocess.run([sys.executable, "-c", code], cwd=work, env=dict(env, PYTHONPATH=str(ROOT)),
                           capture_output=True, text=True, timeout=60).stdout
    lines = [line.strip() for line in shown.splitlines() if line.startswith("  ")]
    assert lines[0] == "export MEDSPA_SCAN_HOME=./.demo-home" and lines[1].startswith(".venv/bin/medspa-scan ")
    assert "make demo-reset" in shown
    r = _bash("\n".join(lines), work)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
