"""The connectors' shared HTTP client against a real HTTP server on 127.0.0.1: retries on 429 (honouring
Retry-After, capped), 5xx and Graph API throttling codes, timeouts, malformed JSON, clear 4xx errors,
the token sent only to the API's origin and never shown, one concurrency limit, and picture downloads
with type and size checks; plus the HTML and SVG readers."""
from __future__ import annotations

import base64
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from scanner.crawl.sources import Http, HttpOptions, ImageRejected, Limiter, SourceError
from scanner.crawl.sources._html import largest_srcset, read_html, svg_text
from scanner.crawl.sources._http import sniff
from tests.fixtures.crawl.server import TOKEN, FixtureServer, Resp, png


@pytest.fixture()
def srv():
    with FixtureServer(protected=()) as s:
        yield s


def client(srv: FixtureServer, **kw) -> Http:
    opts = HttpOptions(**{"timeout": 2.0, "retries": 3, "backoff": 0.05, "max_retry_wait": 5.0, **kw})
    return Http(opts, token=TOKEN, api_origin=srv.base)


def test_429_waits_as_long_as_retry_after_says_then_succeeds(srv):
    srv.route("/api", Resp(429, {"error": "slow down"}, headers={"Retry-After": "1"}), Resp(200, {"ok": 1}))
    http = client(srv)
    t = time.perf_counter()
    assert http.json(f"{srv.base}/api") == {"ok": 1}
    took = time.perf_counter() - t
    assert srv.hits["/api"] == 2 and 0.95 <= took < 3
    assert http.stats.retries == 1 and http.stats.waited >= 1


def test_retry_after_is_capped_and_understands_http_dates(srv):
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=40), usegmt=True)
    srv.route("/a", Resp(503, b"busy", "text/plain", headers={"Retry-After": "120"}), Resp(200, {"ok": 1}))
    srv.route("/b", Resp(429, b"", headers={"Retry-After": later}), Resp(200, {"ok": 2}))
    http = client(srv, max_retry_wait=0.3)
    t = time.perf_counter()
    assert http.json(f"{srv.base}/a") == {"ok": 1} and http.json(f"{srv.base}/b") == {"ok": 2}
    assert time.perf_counter() - t < 2  # two waits of 0.3 s, not 120 + 40 s
    assert http.stats.waited == pytest.approx(0.6, abs=0.01)


def test_retry_waits_stop_at_the_sources_time_budget(srv):
    srv.route("/busy", Resp(429, b"", headers={"Retry-After": "30"}))
    http = client(srv, max_retry_wait=60.0, max_source_seconds=1.0)
    t = time.perf_counter()
    with pytest.raises(SourceError) as err:
        http.json(f"{srv.base}/busy")
    assert time.perf_counter() - t < 3  # not 3 waits of 30 s
    assert "used up its 1 s (max_source_seconds)" in str(err.value) and srv.hits["/busy"] == 1
    assert http.stats.waited <= 1.0


def test_picture_downloads_retry_a_busy_server_as_long_as_it_asks(srv, tmp_path):
    data = png(16, "blue")
    srv.route("/busy.png", Resp(503, b"busy", "text/plain", headers={"Retry-After": "0.4"}), Resp(200, data, "image/png"))
    http = client(srv)
    path = http.download_image(f"{srv.base}/busy.png", tmp_path)
    assert path.read_bytes() == data and srv.hits["/busy.png"] == 2
    assert http.stats.retries == 1 and http.stats.waited == pytest.approx(0.4, abs=0.01)
    srv.route("/down.png", Resp(500, b"oops", "text/plain"))
    with pytest.raises(ImageRejected) as err:
        client(srv, retries=1).download_image(f"{srv.base}/down.png", tmp_path)
    assert err.value.rule_id == "IMG901" and str(err.value) == (
        f"image not downloaded (HTTP 500) from {srv.base}/down.png after 2 attempts")


def test_server_errors_are_retried_with_backoff_then_succeed(srv):
    srv.route("/flaky", Resp(500, b"oops", "text/plain"), Resp(502, b"bad gateway", "text/plain"), Resp(200, {"ok": 1}))
    http = client(srv)
    assert http.json(f"{srv.base}/flaky") == {"ok": 1}
    assert srv.hits["/flaky"] == 3 and http.stats.retries == 2


def test_gives_up_after_the_last_retry_naming_the_url_not_the_query(srv):
    srv.route("/down", Resp(500, b"oops", "text/plain"))
    http = client(srv, retries=2)
    with pytest.raises(SourceError) as err:
        http.json(f"{srv.base}/down?access_token={TOKEN}&after=X")
    msg = str(err.value)
    assert srv.hits["/down"] == 3
    assert msg == f"HTTP 500 from {srv.base}/down after 3 attempts"
    assert TOKEN not in msg


def test_graph_api_throttling_codes_are_retried(srv):
    throttled = {"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4}}
    srv.route("/graph", Resp(403, throttled), Resp(200, {"data": []}))
    assert client(srv).json(f"{srv.base}/graph") == {"data": []}
    assert srv.hits["/graph"] == 2


def test_a_request_that_outlives_the_timeout_fails_the_source(srv):
    srv.route("/slow", Resp(200, {"data": []}, delay=1.5))
    http = client(srv, timeout=0.3, retries=1)
    t = time.perf_counter()
    with pytest.raises(SourceError, match=r"timed out after 0.3 s from .*/slow after 2 attempts"):
        http.json(f"{srv.base}/slow")
    assert time.perf_counter() - t < 1.4  # two short timeouts, not the server's 1.5 s sleeps


def test_malformed_json_is_a_clear_error(srv):
    srv.route("/broken", Resp(200, b'{"data": [{"id": "1", ', "application/json"))
    with pytest.raises(SourceError, match=r"malformed JSON from http://127\.0\.0\.1:\d+/broken"):
        client(srv).json(f"{srv.base}/broken")
    assert srv.hits["/broken"] == 1


def test_client_errors_are_not_retried_and_explain_themselves(srv):
    srv.route("/private", Resp(401, {"error": {"message": "Invalid OAuth access token.", "code": 190}}))
    srv.route("/nothing", Resp(404, b"not here", "text/plain"))
    http = client(srv)
    with pytest.raises(SourceError, match="HTTP 401 .*access token was refused"):
        http.json(f"{srv.base}/private")
    with pytest.raises(SourceError, match="HTTP 404 .*not found"):
        http.json(f"{srv.base}/nothing")
    assert srv.hits["/private"] == 1 and srv.hits["/nothing"] == 1


def test_token_goes_only_to_the_api_origin(srv):
    srv.route("/api", Resp(200, {"ok": 1}))
    http = client(srv)
    http.json(f"{srv.base}/api")
    other = srv.base.replace("127.0.0.1", "localhost")  # same server, another origin (a CDN, a hostile `next`)
    http.json(f"{other}/api")
    assert srv.auth["/api"] == [f"Bearer {TOKEN}", None]


def test_one_limit_for_requests_in_flight(srv):
    srv.route("/wait", Resp(200, {"ok": 1}, delay=0.15))

    def burst(limiter: Limiter) -> int:
        srv.max_active = 0
        http = Http(HttpOptions(timeout=5), limiter=limiter)
        threads = [threading.Thread(target=http.json, args=(f"{srv.base}/wait",)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return srv.max_active

    assert burst(Limiter(2)) == 2
    assert burst(Limiter(8)) > 2  # the server does see parallel requests when the limit allows them


def test_picture_downloads_are_named_by_content(srv, tmp_path):
    data = png(32, "red")
    srv.route("/a.png", Resp(200, data, "image/png"))
    srv.route("/b", Resp(200, data, "application/octet-stream"))  # a bucket without types: the bytes decide
    http = client(srv)
    a = http.download_image(f"{srv.base}/a.png?oh=1", tmp_path)
    b = http.download_image(f"{srv.base}/b", tmp_path)
    assert a == b and a.suffix == ".png" and a.read_bytes() == data


@pytest.mark.parametrize(("resp", "rule", "message"), [
    (Resp(200, b"<html>login</html>", "text/html"), "IMG900", "not an image (content type text/html)"),
    (Resp(200, b"<html>login</html>", "image/png"), "IMG900", "not an image"),
    (Resp(200, b"\xff\xd8\xff" + b"0" * 300_000, "image/jpeg"), "IMG900", "image too large (300,003 bytes"),
    (Resp(200, b"\xff\xd8\xff" + b"0" * 300_000, "image/jpeg", chunked=True), "IMG900", "more than 200,000 bytes"),
    (Resp(404, b"gone", "text/plain"), "IMG901", "HTTP 404 for an image"),
])
def test_pictures_that_are_not_images_or_too_large_are_refused(srv, tmp_path, resp, rule, message):
    srv.route("/pic", resp)
    with pytest.raises(ImageRejected) as err:
        client(srv, max_image_bytes=200_000).download_image(f"{srv.base}/pic", tmp_path)
    assert err.value.rule_id == rule and message in str(err.value)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_inline_data_uri_pictures(tmp_path):
    uri = "data:image/png;base64," + base64.b64encode(png(8)).decode()
    path = Http(HttpOptions()).download_image(uri, tmp_path)
    assert path.suffix == ".png"
    with pytest.raises(ImageRejected):
        Http(HttpOptions()).download_image("data:text/html;base64,PGI+", tmp_path)


def test_sniff_knows_the_image_formats():
    assert sniff(png(4)) == ".png" and sniff(b"\xff\xd8\xff\xe0") == ".jpg" and sniff(b"GIF89a...") == ".gif"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == ".webp" and sniff(b"\x00\x00\x00\x18ftypheic") == ".heic"
    assert sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>") == ".svg" and sniff(b"%PDF-1.4") is None


def test_html_reader_sees_what_a_visitor_sees():
    page = read_html(
        "<html><head><title>Stories</title><meta name='description' content='Real results'>"
        "<meta property='og:image' content='/og.jpg'><script>var secret = 'x'</script><style>p{}</style></head>"
        "<body><p>Jane loved her <b>peel</b>.</p><noscript>enable js</noscript>"
        "<img src='data:image/gif;base64,R0lGOD' data-src='/lazy.jpg' alt='Jane before and after'>"
        "<img src='/small.jpg' srcset='/small.jpg 480w, /big.jpg 1080w'><svg><text>icon</text></svg></body></html>",
        "https://spa.example/stories/")
    assert page.text.splitlines() == ["Stories", "Real results", "Jane loved her peel.", "Jane before and after"]
    assert page.images == ["https://spa.example/og.jpg", "https://spa.example/lazy.jpg", "https://spa.example/big.jpg"]
    assert largest_srcset("a.jpg 2x, b.jpg 1x") == "a.jpg"


def test_svg_text_is_read_and_entities_refused():
    words, raster = svg_text(b"<svg xmlns='http://www.w3.org/2000/svg'><title>Logo</title><text>Jane D.</text>"
                             b"<image href='data:image/png;base64,AAAA'/></svg>")
    assert words == "Logo\nJane D." and raster
    with pytest.raises(ValueError):
        svg_text(b"<!DOCTYPE svg [<!ENTITY a 'b'>]><svg>&a;</svg>")


def test_fixture_payloads_exist():
    here = Path(__file__).resolve().parents[1] / "fixtures" / "crawl"
    assert (here / "facebook" / "posts_1.json").is_file() and (here / "google" / "reviews_1.json").is_file()
