"""The reply-gate API against a real uvicorn server on 127.0.0.1, with an httpx client."""
from __future__ import annotations

import io
import socket
import threading
import time

import httpx
import pytest
import uvicorn
from PIL import Image

from scanner import apikeys
from scanner.api import Settings, create_app
from scanner.store import Store

BAD_REPLY = {"id": "r1", "kind": "reply", "channel": "google", "author": "Sarah K.",
             "text": "Thanks Sarah! So glad you loved your lip filler, see you at your touch-up!",
             "in_reply_to": "Got lip filler here last week, obsessed"}
GOOD_REPLY = {"id": "r2", "kind": "reply", "channel": "google",
              "text": "Thank you so much for the kind words! We'll share them with the team."}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(app) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(base + "/healthz", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return base, srv, th


@pytest.fixture(scope="module")
def server(text_scanner, tmp_path_factory):
    home = tmp_path_factory.mktemp("api")
    store = Store(f"sqlite:///{home / 'api.db'}")
    key = apikeys.create(store, "review-tool")
    revoked = apikeys.create(store, "old-tool")
    apikeys.revoke(store, "old-tool")
    limited = apikeys.create(store, "tiny")
    app = create_app(store=store, scanner=text_scanner,
                     settings=Settings(max_body_bytes=2_000_000, max_image_bytes=500_000, max_batch=5,
                                       rate_per_minute=1000))
    base, srv, th = start(app)
    yield {"base": base, "key": key, "revoked": revoked, "limited": limited, "store": store, "app": app}
    srv.should_exit = True
    th.join(timeout=5)


def client(server, key=None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key or server['key']}"} if key != "" else {}
    return httpx.Client(base_url=server["base"], headers=headers, timeout=60)


def test_healthz_needs_no_key(server):
    r = httpx.get(server["base"] + "/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


@pytest.mark.parametrize("which", ["", "msk_not-a-real-key", "revoked"])
def test_keys_are_required(server, which):
    key = server["revoked"] if which == "revoked" else which
    r = client(server, key).post("/v1/check", json=GOOD_REPLY)
    assert r.status_code == 401 and r.headers.get("www-authenticate") == "Bearer"


def test_violating_reply_blocks_with_a_safe_suggestion_and_is_stored(server):
    r = client(server).post("/v1/check", json=BAD_REPLY)
    assert r.status_code == 200
    body = r.json()
    assert body["verdict"] == "block" and body["suggested_text"]
    assert {"patient_identifier", "relationship_confirmation", "treatment_disclosure"} <= {
        f["category"] for f in body["findings"]}
    from sqlalchemy import select

    from scanner.store import StoredItem

    with server["store"].session() as s:
        row = s.execute(select(StoredItem).where(StoredItem.item_id == "r1")).scalars().first()
        assert row.source == "api" and row.submitted_by == "review-tool" and row.verdict == "block"


def test_clean_reply_passes(server):
    r = client(server).post("/v1/check", json=GOOD_REPLY)
    assert r.status_code == 200 and r.json()["verdict"] == "pass"


def test_validation_errors_name_the_field_without_echoing_content(server):
    r = client(server).post("/v1/check", json={**BAD_REPLY, "channel": "myspace"})
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == "channel"
    assert "Sarah" not in r.text


def test_batch_reports_a_bad_item_and_scans_the_rest(server):
    r = client(server).post("/v1/batch", json={"items": [BAD_REPLY, {"kind": "tweet", "text": "x"}, GOOD_REPLY]})
    assert r.status_code == 200
    res = r.json()["results"]
    assert res[0]["verdict"] == "block" and res[1]["error"] == "invalid item" and res[2]["verdict"] == "pass"


def test_batch_limit(server):
    r = client(server).post("/v1/batch", json={"items": [GOOD_REPLY] * 6})
    assert r.status_code == 413 and "limit is 5" in r.json()["error"]


def test_body_limit(server):
    r = client(server).post("/v1/check", content=b"{" + b" " * 2_100_000 + b"}",
                            headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_image_upload_types_and_sizes(server):
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buf, format="PNG")
    c = client(server)
    ok = c.post("/v1/check", data={"item": '{"kind": "post", "channel": "instagram", "text": "New menu!"}'},
                files={"images": ("menu.png", buf.getvalue(), "image/png")})
    assert ok.status_code == 200 and ok.json()["verdict"] in ("pass", "review")
    bad = c.post("/v1/check", data={"item": '{"kind": "post", "text": "x"}'},
                 files={"images": ("a.gif", b"GIF89a", "application/x-msdownload")})
    assert bad.status_code == 415
    big = c.post("/v1/check", data={"item": '{"kind": "post", "text": "x"}'},
                 files={"images": ("big.png", b"\x89PNG" + b"0" * 600_000, "image/png")})
    assert big.status_code == 413


def test_rate_limit_answers_429_with_retry_after(server, text_scanner):
    app = create_app(store=server["store"], scanner=text_scanner, settings=Settings(rate_per_minute=3))
    base, srv, th = start(app)
    try:
        c = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {server['limited']}"})
        codes = [c.get("/v1/rules") for _ in range(4)]
        assert [r.status_code for r in codes] == [200, 200, 200, 429]
        assert int(codes[-1].headers["retry-after"]) >= 1
    finally:
        srv.should_exit = True
        th.join(timeout=5)


def test_rules_and_openapi(server):
    r = client(server).get("/v1/rules")
    assert r.status_code == 200 and any(x["id"] == "PAT001" for x in r.json()["rules"])
    spec = httpx.get(server["base"] + "/openapi.json").json()
    assert "/v1/check" in spec["paths"]


def test_schema_fuzzing_finds_no_server_errors(server):
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(server["base"] + "/openapi.json")
    headers = {"Authorization": f"Bearer {server['key']}"}
    failures = []
    for op in schema.get_all_operations():
        operation = op.ok()

        def fuzz(label: str, strategy) -> None:
            @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def run(case):
                resp = case.call(headers=headers, timeout=60)
                if resp.status_code >= 500:
                    failures.append((label, resp.status_code))

            run()

        fuzz(operation.label, operation.as_strategy())
    assert not failures, failures
