"""The shared HTTP client every connector uses (httpx): timeouts, retries (tenacity) with exponential backoff
on timeouts, connection errors, 429, 5xx and the Graph API's throttling codes (honouring Retry-After, capped,
never waiting past the source's time), one concurrency limit shared by every source, bearer tokens sent
only to the API's own origin and never written to messages or logs, JSON decoding with clear errors, and
image downloads with type and size checks into a content-addressed cache (an unchanged picture keeps the
same path from week to week).

Bounds (a hostile or broken server cannot exhaust memory or hold the crawl): every body is streamed
and cut off past `max_body_bytes`, counted both as sent (compressed) and as decoded (a gzip bomb stops
at the limit); every request has a total deadline (`max_request_seconds`, enforced by shutting the
socket down, so a server trickling a byte every few seconds cannot keep a read alive) and every
source a total budget (`max_source_seconds`) covering its requests and retry waits.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from ...core.scrub import scrub_json
from ...image.load import sniff as raster_type

log = logging.getLogger(__name__)
# httpx logs every request URL at INFO; Graph API `paging.next` URLs carry the access token in the query.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

USER_AGENT = "medspa-scan-crawler/1.0 (+published-content compliance check)"
# Graph API error codes that mean "throttled, try later" (sent as HTTP 400/403, not 429).
GRAPH_THROTTLE_CODES = {1, 2, 4, 17, 32, 341, 613, 80001, 80002, 80004, 80005, 80006, 80008}
T = TypeVar("T")
R = TypeVar("R")


class SourceError(Exception):
    """A source (or one request of it) could not be read. The message names the URL without its query
    string and the problem; it never carries a token or the content."""


class ImageRejected(SourceError):
    """An image was not downloaded: not an image, an unsupported type, too large, or unreachable.
    `rule_id` says which scan_incomplete rule describes it (IMG900 not checkable, IMG901 not available)."""

    def __init__(self, message: str, rule_id: str = "IMG900"):
        super().__init__(message)
        self.rule_id = rule_id


def safe_url(url: str) -> str:
    """The URL without query string or fragment (a query may carry an access token)."""
    parts = urlsplit(url)
    if parts.scheme == "data":
        return "data: URI"
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path


def origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}".lower()


@dataclass
class Stats:
    """Counters for the summary and the benchmark (thread-safe enough: guarded by a lock)."""

    requests: int = 0
    retries: int = 0
    bytes: int = 0
    seconds: float = 0.0
    waited: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **kw: float) -> None:
        with self._lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def as_dict(self) -> dict[str, float]:
        return {"requests": self.requests, "retries": self.retries, "bytes": self.bytes,
                "seconds": round(self.seconds, 3), "waited": round(self.waited, 3)}


class Limiter:
    """At most `n` requests in flight across every source of a crawl."""

    def __init__(self, n: int):
        self.n = max(1, int(n))
        self._sem = threading.BoundedSemaphore(self.n)

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._sem:
            yield


@dataclass
class HttpOptions:
    timeout: float = 20.0
    retries: int = 3
    backoff: float = 0.5
    max_retry_wait: float = 60.0
    max_image_bytes: int = 15_000_000
    max_body_bytes: int = 50_000_000  # a sitemap's own limit is 50 MB uncompressed
    max_request_seconds: float = 60.0  # one request, headers to last byte, whatever the server's pace
    max_source_seconds: float = 900.0  # every request and retry wait of one source


class Deadline:
    """A request's total time limit. When it passes, the request's socket is shut down, so a read blocked
    on a server that trickles bytes returns at once. The socket is learnt from httpcore's trace hook
    (every request opens its own connection: keep-alive is off, see `Http`)."""

    def __init__(self, seconds: float):
        self.seconds = max(0.0, seconds)
        self.fired = False
        self._sock: Any = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            with self._lock:
                self._sock = sock
                if self.fired:
                    self._shutdown()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            with suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


class TooLarge(SourceError):
    """A body over the size limit (not retried: it will be as large next time). `size` says how large,
    e.g. "300,003 bytes; the limit is 300,000"."""

    def __init__(self, size: str, url: str):
        super().__init__(f"the answer is too large ({size}) from {safe_url(url)}")
        self.size = size


IMAGE_TYPES = {  # content type -> extension; the image pipeline's allow-list (SVG is handled as text)
    "image/jpeg": ".jpg", "image/jpg": ".jpg", "image/pjpeg": ".jpg", "image/png": ".png", "image/webp": ".webp",
    "image/gif": ".gif", "image/heic": ".heic", "image/heif": ".heif", "image/avif": ".avif",
    "image/tiff": ".tif", "image/bmp": ".bmp", "image/svg+xml": ".svg",
}
GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/binary"}


def sniff(data: bytes) -> str | None:
    """The extension an image's first bytes say it is (the image pipeline's raster types, or SVG, which the
    crawl handles as text), or None when they are not a known image."""
    ext = raster_type(data[:64])
    if ext:
        return ext
    head = data[:64]
    text = head.lstrip().lower()
    if text.startswith((b"<svg", b"<?xml")) and b"<svg" in data[:2048].lower():
        return ".svg"
    return None


class Http:
    """One source's client. `token` is sent as a bearer token, and only to `api_origin` (never to a CDN
    or to a host a `paging.next` link might point at). Every request waits for a slot of `limiter`."""

    def __init__(self, options: HttpOptions | None = None, token: str | None = None,
                 api_origin: str | None = None, limiter: Limiter | None = None, stats: Stats | None = None):
        self.opt = options or HttpOptions()
        self._token = token
        self._api_origin = api_origin.lower() if api_origin else None
        self.limiter = limiter or Limiter(4)
        self.stats = stats or Stats()
        t = float(self.opt.timeout)
        self.ends_at = time.monotonic() + float(self.opt.max_source_seconds)
        # no keep-alive: each request has its own connection, which its Deadline can shut down
        self.client = httpx.Client(timeout=httpx.Timeout(t, connect=min(t, 10.0)), follow_redirects=True,
                                   headers={"User-Agent": USER_AGENT}, max_redirects=5,
                                   limits=httpx.Limits(max_keepalive_connections=0))

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def redact(self, text: str) -> str:
        """`text` with the token (if any) replaced: a last guard for messages built from server data."""
        return text.replace(self._token, "[token]") if self._token else text

    def _headers(self, url: str, accept: str) -> dict[str, str]:
        h = {"Accept": accept}
        if self._token and self._api_origin and origin(url) == self._api_origin:
            h["Authorization"] = f"Bearer {self._token}"
        return h

    # -- requests ------------------------------------------------------------------------------------
    def _deadline(self, url: str) -> Deadline:
        """The next request's deadline: its own limit or what is left of the source's, whichever is first."""
        left = self.ends_at - time.monotonic()
        if left <= 0:
            raise SourceError(f"the source used up its {self.opt.max_source_seconds:g} s (max_source_seconds) "
                              f"before {safe_url(url)}")
        return Deadline(min(float(self.opt.max_request_seconds), left))

    def _read_body(self, r: httpx.Response, url: str, dl: Deadline, limit: int) -> bytes:
        """The decoded body, refusing more than `limit` bytes sent or decoded, or a passed deadline."""
        declared = r.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"{int(declared):,} bytes; the limit is {limit:,}", url)
        data = bytearray()
        try:
            for chunk in r.iter_bytes():
                data.extend(chunk)
                if len(data) > limit or r.num_bytes_downloaded > limit:
                    raise TooLarge(f"more than {limit:,} bytes"
                                   f"{' once decompressed' if len(data) > r.num_bytes_downloaded else ''}", url)
                if dl.fired:
                    break
        except httpx.HTTPError:
            if not dl.fired:
                raise
        if dl.fired:
            raise httpx.ReadTimeout("deadline")
        return bytes(data)

    def _retrying(self, url: str) -> Retrying:
        """Attempts of one request (tenacity): an attempt that raises `_Again` is repeated, up to `retries`
        more times, after `_wait`; any other error ends it at once. The last `_Again` is re-raised."""
        return Retrying(stop=stop_after_attempt(int(self.opt.retries) + 1), retry=retry_if_exception_type(_Again),
                        wait=self._wait, sleep=self._sleep, reraise=True,
                        before_sleep=lambda rs: log.info("retrying %s in %.1f s (%s)", safe_url(url),
                                                         rs.upcoming_sleep, _problem(rs)))

    def _wait(self, state: RetryCallState) -> float:
        """What the server asked for (Retry-After), else exponential backoff with jitter; never longer than
        `max_retry_wait` nor than what is left of the source's time."""
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = exc.asked if isinstance(exc, _Again) else None
        wait = asked if asked is not None else _backoff(self.opt.backoff, state.attempt_number - 1)
        return max(0.0, min(wait, self.opt.max_retry_wait, self.ends_at - time.monotonic()))

    def get(self, url: str, params: dict[str, Any] | None = None, accept: str = "*/*") -> httpx.Response:
        """GET with retries; the body is read within the size and time limits. SourceError when it gives
        up, the answer is a 4xx or too large, or the source's time is up."""
        try:
            return self._retrying(url)(self._get_once, url, params, accept)
        except _Again as exc:
            raise SourceError(f"{exc.problem} from {safe_url(url)} after {_attempts(self.opt.retries + 1)}") from None

    def _get_once(self, url: str, params: dict[str, Any] | None, accept: str) -> httpx.Response:
        """One attempt: the answer, `_Again` when it is worth another, SourceError when it is not."""
        with self.limiter.slot():
            t = time.perf_counter()
            dl = self._deadline(url)
            try:
                with dl, self.client.stream("GET", url, params=params, headers=self._headers(url, accept),
                                            extensions={"trace": dl.trace}) as resp:
                    resp._content = self._read_body(resp, url, dl, int(self.opt.max_body_bytes))  # httpx's cache
            except httpx.TooManyRedirects:
                raise SourceError(f"too many redirects from {safe_url(url)}") from None
            except httpx.HTTPError as exc:
                if dl.fired:  # not retried: a server this slow will be as slow again
                    raise SourceError(f"took longer than {dl.seconds:g} s (max_request_seconds) from "
                                      f"{safe_url(url)}") from None
                raise _Again(f"timed out after {self.opt.timeout:g} s" if isinstance(exc, httpx.TimeoutException)
                             else f"connection problem ({type(exc).__name__})") from None
            finally:
                self.stats.add(requests=1, seconds=time.perf_counter() - t)
        self.stats.add(bytes=len(resp.content))
        if resp.status_code >= 400:
            raise _Again(*self._retryable(resp, url))
        return resp

    def json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        """GET and decode JSON; SourceError names the URL on malformed JSON."""
        r = self.get(url, params, accept="application/json")
        try:
            return scrub_json(r.json())  # "\ud83d" (half an emoji) must not stop the crawl
        except ValueError:
            raise SourceError(f"malformed JSON from {safe_url(url)} (HTTP {r.status_code}, "
                              f"{len(r.content):,} bytes)") from None

    def _retryable(self, r: httpx.Response, url: str) -> tuple[str, float | None]:
        """(problem, Retry-After seconds) for an answer worth retrying; SourceError for any other 4xx."""
        code = r.status_code
        graph_code = _graph_error_code(r)
        detail = f" (Graph API code {graph_code})" if graph_code is not None else ""
        if code == 429 or code >= 500 or graph_code in GRAPH_THROTTLE_CODES:
            return f"HTTP {code}{detail}", retry_after(r)
        hint = {401: ": the access token was refused (expired or wrong? check token_env)",
                403: ": access denied (the token lacks a permission for this object)",
                404: ": not found (check the id or address in sources.yaml)"}.get(code, "")
        raise SourceError(f"HTTP {code}{detail} from {safe_url(url)}{hint}")

    # -- images --------------------------------------------------------------------------------------
    def download_image(self, url: str, dest_dir: Path) -> Path:
        """Stream an image into DEST_DIR, named by the hash of its bytes; ImageRejected when it is not an
        image of an allowed type, is larger than the limit, or cannot be fetched."""
        limit = int(self.opt.max_image_bytes)
        if url.startswith("data:"):
            data, declared = _data_uri(url, limit)
        else:
            if urlsplit(url).scheme not in ("http", "https"):
                raise ImageRejected(f"unsupported image address scheme at {safe_url(url)}", "IMG901")
            data, declared = self._stream_image(url, limit)
        ext = sniff(data)
        if ext is None:
            raise ImageRejected(f"not an image ({declared or 'no type'}; the bytes are no known image format) "
                                f"at {safe_url(url)}")
        dest_dir.mkdir(parents=True, exist_ok=True)
        path = dest_dir / f"{hashlib.sha256(data).hexdigest()[:32]}{ext}"
        if not path.exists():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return path

    def _stream_image(self, url: str, limit: int) -> tuple[bytes, str]:
        try:
            return self._retrying(url)(self._image_once, url, limit)
        except _Again as exc:
            raise ImageRejected(f"image not downloaded ({exc.problem}) from {safe_url(url)} after "
                                f"{_attempts(self.opt.retries + 1)}", "IMG901") from None

    def _image_once(self, url: str, limit: int) -> tuple[bytes, str]:
        """One attempt at an image: its bytes and type, `_Again` when worth another, else ImageRejected."""
        with self.limiter.slot():
            t = time.perf_counter()
            try:
                dl = self._deadline(url)
            except SourceError as exc:
                raise ImageRejected(str(exc), "IMG901") from None
            try:
                with dl, self.client.stream("GET", url, headers=self._headers(url, "image/*"),
                                            extensions={"trace": dl.trace}) as r:
                    if r.status_code == 429 or r.status_code >= 500:
                        raise _Again(f"HTTP {r.status_code}", retry_after(r))
                    if r.status_code >= 400:
                        raise ImageRejected(f"HTTP {r.status_code} for an image at {safe_url(url)}", "IMG901")
                    return self._read_image(r, url, limit, dl)
            except httpx.HTTPError as exc:
                raise _Again(f"took longer than {dl.seconds:g} s" if dl.fired
                             else f"timed out after {self.opt.timeout:g} s" if isinstance(exc, httpx.TimeoutException)
                             else f"connection problem ({type(exc).__name__})") from None
            finally:
                self.stats.add(requests=1, seconds=time.perf_counter() - t)

    def _read_image(self, r: httpx.Response, url: str, limit: int, dl: Deadline) -> tuple[bytes, str]:
        ctype = r.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in IMAGE_TYPES and ctype not in GENERIC_TYPES:
            raise ImageRejected(f"not an image (content type {ctype}) at {safe_url(url)}")
        try:
            data = self._read_body(r, url, dl, limit)
        except TooLarge as exc:
            raise ImageRejected(f"image too large ({exc.size}) at {safe_url(url)}") from None
        self.stats.add(bytes=len(data))
        return data, ctype

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.stats.add(retries=1, waited=seconds)
            time.sleep(seconds)
        else:
            self.stats.add(retries=1)

    # -- fan-out -------------------------------------------------------------------------------------
    def map(self, fn: Callable[[T], R], seq: Iterable[T]) -> Iterator[R]:
        """fn over seq in order, up to the limiter's width at a time (requests still wait for slots)."""
        items = list(seq)
        if len(items) <= 1 or self.limiter.n == 1:
            yield from map(fn, items)
            return
        with ThreadPoolExecutor(max_workers=min(self.limiter.n, len(items))) as pool:
            yield from pool.map(fn, items)


class _Again(Exception):
    """An attempt worth repeating: what went wrong, and how long the server asked to wait (Retry-After)."""

    def __init__(self, problem: str, asked: float | None = None):
        super().__init__(problem)
        self.problem = problem
        self.asked = asked


def _problem(state: RetryCallState) -> str:
    exc = state.outcome.exception() if state.outcome is not None else None
    return exc.problem if isinstance(exc, _Again) else "?"


def _attempts(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


def _backoff(base: float, attempt: int) -> float:
    """Exponential backoff with jitter: base * 2^attempt, between 75 % and 100 % of it."""
    return base * (2 ** attempt) * (0.75 + random.random() / 4)


def retry_after(r: httpx.Response) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), or None."""
    value = r.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _graph_error_code(r: httpx.Response) -> int | None:
    """The Graph API's `error.code` of an error answer, if it is one."""
    if r.status_code < 400 or "json" not in r.headers.get("content-type", ""):
        return None
    try:
        err = r.json().get("error")
        return int(err["code"]) if isinstance(err, dict) and "code" in err else None
    except (ValueError, TypeError, AttributeError, KeyError):
        return None


def _data_uri(url: str, limit: int) -> tuple[bytes, str]:
    """The bytes of a `data:image/...;base64,` URI (an image inlined in a page)."""
    head, _, payload = url.partition(",")
    ctype = head[5:].split(";")[0].strip().lower()
    if ctype not in IMAGE_TYPES:
        raise ImageRejected(f"not an image (inline data of type {ctype or 'unknown'})")
    if len(payload) * 3 // 4 > limit:
        raise ImageRejected(f"inline image too large (more than {limit:,} bytes)")
    try:
        data = base64.b64decode(payload, validate=False) if ";base64" in head else payload.encode()
    except (binascii.Error, ValueError):
        raise ImageRejected("inline image is not valid base64") from None
    return data, ctype
