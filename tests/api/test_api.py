"""The reply-gate API against a real uvicorn server on 127.0.0.1 (a thread), with an httpx client:
keys, verdicts, storage, limits, errors without content, the access log and registry freshness."""
from __future__ import annotations

import copy
import io
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx
import pytest
import uvicorn
from PIL import Image
from sqlalchemy import select

from scanner import Store, create_app
from scanner.api import keys as apikeys
from scanner.api.app import Settings
from scanner.core.store import Run, StoredItem
from tests.conftest import SHARED, db_url

pytestmark = pytest.mark.backends

PHI = "Margarita Quellstone"  # a name that must never show up in an error or a log
BAD_REPLY = {"id": "r1", "kind": "reply", "channel": "google", "author": "Sarah K.",
             "text": "Thanks Sarah! So glad you loved your lip filler, see you at your touch-up!",
             "in_reply_to": "Got lip filler here last week, obsessed"}
GOOD_REPLY = {"id": "r2", "kind": "reply", "channel": "google",
              "text": "Thank you so much for the kind words! We'll share them with the team."}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(app) -> Iterator[str]:
    """Run APP under a real uvicorn server on a free 127.0.0.1 port; yields the base URL."""
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                        lifespan="on"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        if not th.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        th.join(timeout=10)


def png(size=(64, 64), color="white") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(text_scanner, module_db):
    store = Store(module_db)
    keys = {name: apikeys.create(store, name) for name in ("review-tool", "old-tool", "second-tool")}
    keys["tiny"] = apikeys.create(store, "tiny", rate_per_minute=2)
    apikeys.revoke(store, "old-tool")
    app = create_app(store=store, scanner=text_scanner,
                     settings=Settings(max_body_bytes=300_000, max_image_bytes=200_000, max_images=2, max_batch=5))
    with live_server(app) as base:
        yield {"base": base, "keys": keys, "store": store}


def client(server, key: str | None = None) -> httpx.Client:
    key = server["keys"]["review-tool"] if key is None else key
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server["base"], headers=headers, timeout=60)


def stored(store: Store, item_id: str) -> list[StoredItem]:
    with store.session() as s:
        rows = list(s.execute(select(StoredItem).where(StoredItem.item_id == item_id)).scalars())
        for r in rows:
            _ = r.run.actor, r.run.source, list(r.findings)
        return rows


# -- keys -------------------------------------------------------------------------------------------
def test_healthz_needs_no_key_and_carries_a_request_id(server):
    r = httpx.get(server["base"] + "/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["rule_pack"]
    assert len(r.headers["x-request-id"]) == 16


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer msk_not-a-real-key-at-all-0000000000",
                                    "Basic dXNlcjpwYXNz", "revoked"])
def test_a_valid_key_is_required(server, header):
    headers = {}
    if header == "revoked":
        headers["Authorization"] = f"Bearer {server['keys']['old-tool']}"
    elif header:
        headers["Authorization"] = header
    with httpx.Client(base_url=server["base"], headers=headers) as c:
        for r in (c.post("/v1/check", json=GOOD_REPLY), c.post("/v1/batch", json={"items": [GOOD_REPLY]}),
                  c.get("/v1/rules")):
            assert r.status_code == 401
            assert r.headers["www-authenticate"] == "Bearer"
            assert "Authorization: Bearer KEY" in r.json()["error"]
            assert r.json()["request_id"] == r.headers["x-request-id"]


def test_unauthenticated_requests_get_401_before_their_body_is_judged(server):
    with httpx.Client(base_url=server["base"]) as c:
        assert c.post("/v1/check", content=b"not json", headers={"Content-Type": "application/json"}).status_code == 401
        assert c.post("/v1/batch", json={"items": "nope"}).status_code == 401


def test_revoking_a_key_takes_effect_at_once(server):
    key = apikeys.create(server["store"], "short-lived")
    with client(server, key) as c:
        assert c.post("/v1/check", json=GOOD_REPLY).status_code == 200
        apikeys.revoke(server["store"], "short-lived")
        assert c.post("/v1/check", json=GOOD_REPLY).status_code == 401


# -- verdicts and storage -----------------------------------------------------------------------------
def test_a_violating_reply_is_blocked_with_findings_and_a_safe_suggestion_that_passes(server):
    with client(server) as c:
        r = c.post("/v1/check", json=BAD_REPLY)
        assert r.status_code == 200
        body = r.json()
        assert body["id"] == "r1" and body["verdict"] == "block"
        cats = {f["category"] for f in body["findings"]}
        assert {"patient_identifier", "relationship_confirmation", "treatment_disclosure"} <= cats
        for f in body["findings"]:
            assert {"rule_id", "category", "severity", "message", "evidence", "source", "citation"} <= set(f)
        assert "Sarah" not in body["suggested_text"] and "filler" not in body["suggested_text"]
        again = c.post("/v1/check", json={**BAD_REPLY, "id": "r1-suggested", "text": body["suggested_text"]})
        assert again.json()["verdict"] == "pass"


def test_a_clean_reply_passes(server):
    with client(server) as c:
        body = c.post("/v1/check", json=GOOD_REPLY).json()
    assert body == {"id": "r2", "verdict": "pass", "findings": [], "rule_pack": body["rule_pack"]}


def test_every_check_is_stored_like_a_cli_run_with_the_key_name(server):
    with client(server, server["keys"]["second-tool"]) as c:
        assert c.post("/v1/check", json={**BAD_REPLY, "id": "stored-1"}).json()["verdict"] == "block"
    [row] = stored(server["store"], "stored-1")
    assert row.source == "api" and row.submitted_by == "second-tool" and row.verdict == "block"
    assert row.run.source == "api" and row.run.actor == "second-tool"
    assert row.text == BAD_REPLY["text"] and row.in_reply_to == BAD_REPLY["in_reply_to"]
    assert {f.category for f in row.findings} >= {"relationship_confirmation"}
    with server["store"].session() as s:
        run = s.get(Run, row.run_id)
        assert run.status == "done" and run.counts == {"items": 1, "block": 1}


def test_an_item_without_an_id_gets_the_request_id(server):
    with client(server) as c:
        r = c.post("/v1/check", json={k: v for k, v in GOOD_REPLY.items() if k != "id"})
    assert r.json()["id"] == r.headers["x-request-id"]
    assert stored(server["store"], r.headers["x-request-id"])


# -- validation -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("body, field", [
    ({**GOOD_REPLY, "channel": "myspace"}, "channel"),
    ({**GOOD_REPLY, "kind": PHI}, "kind"),
    ({k: v for k, v in GOOD_REPLY.items() if k != "kind"}, "kind"),
    ({k: v for k, v in GOOD_REPLY.items() if k != "text"}, "text"),
    ({**GOOD_REPLY, "text": "   "}, "text"),
    ({**GOOD_REPLY, "text": 42}, "text"),
    ({**GOOD_REPLY, "patient": PHI}, "item"),  # an unknown key is located by position, never named (issue 12)
    ({**GOOD_REPLY, "images": ["/etc/passwd"]}, "images"),
    ({**GOOD_REPLY, "id": ""}, "id"),
    ([GOOD_REPLY], "body"),
])
def test_validation_errors_name_the_field_and_never_echo_content(server, body, field):
    if isinstance(body, dict) and isinstance(body.get("text"), str) and body["text"].strip():
        body = {**body, "text": body["text"] + f" {PHI}"}
    with client(server) as c:
        r = c.post("/v1/check", json=body)
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == field
    assert field in r.json()["error"]
    assert PHI not in r.text and "/etc/passwd" not in r.text


@pytest.mark.parametrize("content, problem", [
    (b"", "empty"), (b'{"kind": "reply", "text": "' + PHI.encode() + b'"', "not valid JSON"),
    (b"\xff\xfe{}", "not valid UTF-8"), (b'{"kind": "reply", "channel": "google", "text": "\\ud800 hi"}', "Unicode"),
])
def test_unreadable_bodies_are_422_without_content(server, content, problem):
    with client(server) as c:
        r = c.post("/v1/check", content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and problem in r.text and PHI not in r.text


def test_unsupported_content_type_is_415(server):
    with client(server) as c:
        r = c.post("/v1/check", content=PHI.encode(), headers={"Content-Type": "text/plain"})
        assert r.status_code == 415 and "application/json" in r.json()["error"] and PHI not in r.text
        assert c.post("/v1/batch", content=b"x", headers={"Content-Type": "text/csv"}).status_code == 415


# -- batch ---------------------------------------------------------------------------------------------------
def test_batch_reports_a_bad_item_by_index_and_checks_the_others(server):
    items = [{**BAD_REPLY, "id": "b-0"}, {"id": "b-1", "kind": "tweet", "channel": "google", "text": PHI},
             {**GOOD_REPLY, "id": "b-2"}, "not an item"]
    with client(server) as c:
        r = c.post("/v1/batch", json={"items": items})
    assert r.status_code == 200
    res = r.json()["results"]
    assert [x["index"] for x in res] == [0, 1, 2, 3]
    assert res[0]["verdict"] == "block" and res[2]["verdict"] == "pass"
    assert res[1] == {"index": 1, "id": "b-1", "error": "invalid item",
                      "fields": [{"field": "items[1].kind", "problem": "must be one of post, reply, comment, message"}]}
    assert res[3]["error"] == "invalid item" and res[3]["fields"][0]["field"] == "items[3]"
    assert r.json()["counts"] == {"items": 4, "invalid": 2, "block": 1, "pass": 1}
    assert PHI not in r.text
    assert stored(server["store"], "b-0") and stored(server["store"], "b-2") and not stored(server["store"], "b-1")


def test_batch_accepts_a_bare_array_and_enforces_its_limits(server):
    with client(server) as c:
        assert [x["verdict"] for x in c.post("/v1/batch", json=[GOOD_REPLY]).json()["results"]] == ["pass"]
        over = c.post("/v1/batch", json={"items": [GOOD_REPLY] * 6})
        assert over.status_code == 413 and "the limit is 5" in over.json()["error"]
        assert c.post("/v1/batch", json={"items": []}).status_code == 422
        assert c.post("/v1/batch", json={"items": [GOOD_REPLY], "x": 1}).json()["fields"][0]["field"] == "body"
        images = c.post("/v1/batch", json={"items": [{**GOOD_REPLY, "images": ["a.jpg"]}]}).json()
        assert images["results"][0]["fields"][0]["field"] == "items[0].images"


# -- size limits ---------------------------------------------------------------------------------------------
def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(server):
    big = json.dumps({**GOOD_REPLY, "text": "word " * 70_000}).encode()
    with client(server) as c:
        declared = c.post("/v1/check", content=big, headers={"Content-Type": "application/json"})
        assert declared.status_code == 413 and "300,000 bytes" in declared.json()["error"]

        def chunks():
            for i in range(0, len(big), 16_384):
                yield big[i:i + 16_384]

        streamed = c.post("/v1/check", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413 and "300,000 bytes" in streamed.json()["error"]
        assert c.post("/v1/check", json=GOOD_REPLY).status_code == 200  # the server is fine afterwards


# -- images -----------------------------------------------------------------------------------------------------
def item_field(**kw) -> dict[str, str]:
    return {"item": json.dumps({"kind": "post", "channel": "instagram", "text": "New treatment menu!", **kw})}


def test_uploaded_images_are_checked_and_stored_by_name(server, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    face = (SHARED / "faces" / "obama2.jpg").read_bytes()
    if len(face) > 200_000:  # keep it under this server's image limit
        im = Image.open(io.BytesIO(face))
        im.thumbnail((800, 800))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=85)
        face = buf.getvalue()
    with client(server) as c:
        r = c.post("/v1/check", data=item_field(id="img-1"),
                   files=[("images", ("client_photo.jpg", face, "image/jpeg")),
                          ("images", ("menu.png", png(), "image/png"))])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] != "pass"
    assert any(f["category"] == "identifiable_image" and f["source"] == "image:client_photo.jpg"
               for f in body["findings"])
    [row] = stored(server["store"], "img-1")
    assert row.images == ["client_photo.jpg", "menu.png"] and row.source == "api"
    assert not list(tmp_path.glob("medspa-api-*")), "uploaded images must be deleted after the check"


def test_image_uploads_are_type_and_size_checked(server):
    with client(server) as c:
        pdf = c.post("/v1/check", data=item_field(), files={"images": ("x.png", b"%PDF-1.7 " + PHI.encode(), "image/png")})
        assert pdf.status_code == 415 and "JPEG, PNG" in pdf.json()["error"] and PHI not in pdf.text
        big = c.post("/v1/check", data=item_field(),
                     files={"images": ("big.png", b"\x89PNG\r\n\x1a\n" + b"0" * 250_000, "image/png")})
        assert big.status_code == 413 and "200,000-byte limit" in big.json()["error"]
        many = c.post("/v1/check", data=item_field(), files=[("images", (f"{i}.png", png(), "image/png")) for i in range(3)])
        assert many.status_code == 413 and "too many images" in many.json()["error"]
        empty = c.post("/v1/check", data=item_field(), files={"images": ("e.png", b"", "image/png")})
        assert empty.status_code == 422


def test_multipart_item_problems_name_the_field(server):
    with client(server) as c:
        missing = c.post("/v1/check", files={"images": ("a.png", png(), "image/png")})
        assert missing.status_code == 422 and missing.json()["fields"][0]["field"] == "item"
        garbled = c.post("/v1/check", data={"item": "{" + PHI}, files={"images": ("a.png", png(), "image/png")})
        assert garbled.status_code == 422 and "not valid JSON" in garbled.text and PHI not in garbled.text
        unnamed = c.post("/v1/check", data=item_field(images=["other.png"]), files={"images": ("a.png", png(), "image/png")})
        assert unnamed.status_code == 422 and unnamed.json()["fields"][0]["field"] == "images[0]"
        only_image = c.post("/v1/check", data={"item": json.dumps({"kind": "post", "channel": "instagram"})},
                            files={"images": ("a.png", png(), "image/png")})
        assert only_image.status_code == 200 and only_image.json()["verdict"] in ("pass", "review")


# -- rate limits -------------------------------------------------------------------------------------------------
def test_a_key_over_its_own_limit_gets_429_with_retry_after(server):
    with client(server, server["keys"]["tiny"]) as c:
        codes = [c.get("/v1/rules") for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert 1 <= int(codes[-1].headers["retry-after"]) <= 60
    assert "rate limit of 2 requests a minute" in codes[-1].json()["error"]
    with client(server) as other:  # other keys are not affected
        assert other.get("/v1/rules").status_code == 200


def test_the_server_default_rate_limit_applies_to_keys_without_their_own(text_scanner, tmp_path, home):
    store = Store(db_url(home, "rl"))
    key = apikeys.create(store, "busy")
    app = create_app(store=store, scanner=text_scanner, settings=Settings(rate_per_minute=3))
    with live_server(app) as base, httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c:
        codes = [c.post("/v1/check", json=GOOD_REPLY).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert httpx.get(base + "/healthz").status_code == 200  # health checks are never limited


def test_the_default_limit_lets_a_busy_reply_gate_through():
    assert Settings().rate_per_minute >= 1000
    assert apikeys.DEFAULT_RATE_PER_MINUTE >= 1000


# -- rules and OpenAPI ----------------------------------------------------------------------------------------------
def test_rules_lists_the_loaded_pack(server):
    with client(server) as c:
        body = c.get("/v1/rules").json()
    assert body["version"] == httpx.get(server["base"] + "/healthz").json()["rule_pack"]
    pat = next(r for r in body["rules"] if r["id"] == "PAT001")
    assert {"id", "category", "severity", "message", "rationale", "remediation", "citation"} <= set(pat)
    assert "examples" not in pat


def test_openapi_document_describes_auth_and_both_body_types(server):
    assert httpx.get(server["base"] + "/openapi.json").status_code == 401  # only /healthz is open
    assert httpx.get(server["base"] + "/docs").status_code == 404  # Swagger UI would need a CDN and no key
    with client(server) as c:
        spec = c.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    check = spec["paths"]["/v1/check"]["post"]
    assert {"application/json", "multipart/form-data"} <= set(check["requestBody"]["content"])
    assert {"401", "413", "415", "422", "429"} <= set(check["responses"])
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    assert "/v1/batch" in spec["paths"] and "/v1/rules" in spec["paths"]


# -- errors and logs without content --------------------------------------------------------------------------------
class ExplodingScanner:
    """A real Scanner whose scan fails with an exception that quotes the content (as a buggy stage might)."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def scan_many(self, items):
        for item in items:
            if "explode" in item.text:
                raise RuntimeError(f"stage crashed on {item.text!r}")
        return self._real.scan_many(items)

    def scan(self, item):
        return next(iter(self.scan_many([item])))


def test_an_unexpected_error_is_a_generic_500_with_a_request_id_and_no_content(text_scanner, tmp_path, caplog, home):
    caplog.set_level(logging.INFO, logger="medspa_scan")
    store = Store(db_url(home, "boom"))
    key = apikeys.create(store, "boom")
    app = create_app(store=store, scanner=ExplodingScanner(text_scanner), settings=Settings())
    with live_server(app) as base, httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c:
        r = c.post("/v1/check", json={**GOOD_REPLY, "id": "boom-1", "text": f"please explode {PHI}"})
        assert r.status_code == 500
        rid = r.headers["x-request-id"]
        assert r.json() == {"error": f"internal error: nothing was checked, do not publish; report request id {rid}",
                            "request_id": rid}
        assert c.post("/v1/check", json=GOOD_REPLY).status_code == 200  # and the server keeps serving
    errors = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert any(rid in m and "RuntimeError" in m and "scan_many" in m for m in errors)
    assert not any(PHI in rec.getMessage() or "explode" in rec.getMessage() for rec in caplog.records)
    assert not stored(store, "boom-1")


def test_the_access_log_has_method_path_status_and_key_but_no_query_or_content(server, caplog):
    caplog.set_level(logging.INFO, logger="medspa_scan.api.access")
    with client(server) as c:
        c.post(f"/v1/check?note={PHI.replace(' ', '+')}", json={**BAD_REPLY, "text": BAD_REPLY["text"] + PHI})
        c.get(f"/v1/{PHI.replace(' ', '%20')}")
    deadline = time.monotonic() + 5
    while True:  # the line is written just after the answer is sent (an earlier test's GET may come first)
        lines = [rec.getMessage() for rec in caplog.records if rec.name == "medspa_scan.api.access"]
        if any(m.startswith("GET <other path> ") for m in lines) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert any(m.startswith("POST /v1/check 200 ") and "key=review-tool" in m for m in lines)
    assert any(m.startswith("GET <other path> 404 ") for m in lines)
    text = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "Quellstone" not in text and "Margarita" not in text and "filler" not in text


# -- a long-running server stays current ------------------------------------------------------------------------------
def test_registry_changes_and_the_date_reach_a_running_server(text_scanner, tmp_path, home):
    from scanner import Registry

    store = Store(db_url(home, "reg"))
    csv = tmp_path / "reg.csv"
    csv.write_text("patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,revoked_on,photo\n"
                   "Q001,Opal Example,,,testimonial;name_in_marketing,instagram,2024-01-01,2099-12-31,,\n")
    Registry.import_csv(store, csv, actor="tests")
    scanner = copy.copy(text_scanner)  # same loaded models, its own registry
    scanner.registry = Registry(store)
    scanner.as_of = date(2000, 1, 1)  # a stale date must not survive into a scan
    key = apikeys.create(store, "gate")
    post = {"kind": "post", "channel": "instagram", "text": "'Best clinic ever!' — Opal Example"}
    app = create_app(store=store, scanner=scanner, settings=Settings(registry_refresh_seconds=0.01))
    with live_server(app) as base, httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c:
        assert c.post("/v1/check", json=post).json()["verdict"] == "pass"
        assert scanner.as_of == date.today()
        Registry.revoke(store, "Q001", on=date.today(), reason="client asked", actor="tests")
        time.sleep(0.05)
        body = c.post("/v1/check", json=post).json()
    assert body["verdict"] == "block"
    assert any(f["category"] == "unauthorized_use" for f in body["findings"])


def test_scanning_does_not_block_the_event_loop(server):
    long_text = " ".join([GOOD_REPLY["text"]] * 60)  # about 4,300 characters: a scan of ~0.4 s
    done = threading.Event()
    scan_times = []

    def busy():
        with client(server) as c:
            for i in range(3):
                started = time.perf_counter()
                assert c.post("/v1/check", json={**GOOD_REPLY, "id": f"long-{i}", "text": long_text}).status_code == 200
                scan_times.append(time.perf_counter() - started)
        done.set()

    t = threading.Thread(target=busy)
    t.start()
    time.sleep(0.1)
    worst = 0.0
    while not done.is_set():
        started = time.perf_counter()
        assert httpx.get(server["base"] + "/healthz").status_code == 200
        worst = max(worst, time.perf_counter() - started)
        time.sleep(0.05)
    t.join()
    # a blocked loop would make /healthz wait out a whole scan; a free one only waits for the GIL
    assert worst < 0.75 * max(scan_times), f"/healthz took {worst * 1000:.0f} ms during {min(scan_times):.2f} s scans"


def test_a_worker_with_too_many_checks_queued_answers_503(text_scanner, tmp_path, home):
    store = Store(db_url(home, "busy"))
    key = apikeys.create(store, "eager")
    app = create_app(store=store, scanner=text_scanner, settings=Settings(max_pending=1))
    long_text = " ".join([GOOD_REPLY["text"]] * 200)
    with live_server(app) as base, httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"},
                                                timeout=60) as c:
        first: list[int] = []
        t = threading.Thread(target=lambda: first.append(c.post("/v1/check", json={**GOOD_REPLY, "text": long_text})
                                                         .status_code))
        t.start()
        time.sleep(0.3)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as other:
            r = other.post("/v1/check", json=GOOD_REPLY)
        t.join()
    assert first == [200]
    assert r.status_code == 503 and r.headers["retry-after"] == "1" and "busy" in r.json()["error"]


def test_leftover_temp_dirs_are_not_created_for_json_checks(server, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with client(server) as c:
        c.post("/v1/check", json=GOOD_REPLY)
    assert not any(Path(tmp_path).iterdir())
