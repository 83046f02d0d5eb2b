"""The shared HTTP client for connectors: timeouts, retries with backoff on 429 and 5xx (honouring
Retry-After, capped), bearer tokens that never reach logs, and image downloads with type and size checks."""
from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)
IMAGE_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/heic": ".heic",
               "image/heif": ".heif"}


class SourceError(Exception):
    """A source could not be read; the message names the source and the problem, never a token."""


class Http:
    def __init__(self, token: str | None = None, timeout: float = 15.0, retries: int = 3,
                 max_retry_wait: float = 30.0, backoff: float = 0.5):
        headers = {"User-Agent": "medspa-scan/1.0"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = httpx.Client(timeout=timeout, headers=headers, follow_redirects=True)
        self.retries, self.max_retry_wait, self.backoff = retries, max_retry_wait, backoff
        self.requests = 0
        self.seconds = 0.0

    def close(self) -> None:
        self.client.close()

    def get(self, url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """GET with retries on timeouts, connection errors, 429 and 5xx; SourceError when it gives up."""
        problem = ""
        for attempt in range(self.retries + 1):
            wait = self.backoff * 2 ** attempt
            t = time.perf_counter()
            try:
                r = self.client.get(url, params=params)
            except httpx.TimeoutException:
                problem = "timed out"
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            else:
                if r.status_code < 400:
                    return r
                if r.status_code != 429 and r.status_code < 500:
                    raise SourceError(f"HTTP {r.status_code} from {_safe(url)}")
                problem = f"HTTP {r.status_code}"
                wait = _retry_after(r) or wait
            finally:
                self.requests += 1
                self.seconds += time.perf_counter() - t
            if attempt < self.retries:
                log.info("retrying %s in %.1f s (%s)", _safe(url), min(wait, self.max_retry_wait), problem)
                time.sleep(min(wait, self.max_retry_wait))
        raise SourceError(f"{problem} from {_safe(url)} after {self.retries + 1} attempts")

    def json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        r = self.get(url, params)
        try:
            return r.json()
        except ValueError:
            raise SourceError(f"malformed JSON from {_safe(url)}") from None

    def download_image(self, url: str, dest_dir: Path, max_bytes: int) -> Path:
        """Stream an image to DEST_DIR with content-type and size checks; SourceError otherwise."""
        with self.client.stream("GET", url) as r:
            if r.status_code >= 400:
                raise SourceError(f"HTTP {r.status_code} for an image at {_safe(url)}")
            ctype = r.headers.get("content-type", "").split(";")[0].strip().lower()
            ext = IMAGE_TYPES.get(ctype)
            if ext is None:
                raise SourceError(f"not an image ({ctype or 'no type'}) at {_safe(url)}")
            declared = r.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise SourceError(f"image too large ({int(declared):,} bytes > {max_bytes:,}) at {_safe(url)}")
            data = bytearray()
            for chunk in r.iter_bytes():
                data.extend(chunk)
                if len(data) > max_bytes:
                    raise SourceError(f"image too large (> {max_bytes:,} bytes) at {_safe(url)}")
        dest_dir.mkdir(parents=True, exist_ok=True)
        path = dest_dir / f"img-{hashlib.sha256(url.encode()).hexdigest()[:20]}{ext}"
        path.write_bytes(bytes(data))
        return path


def _retry_after(r: httpx.Response) -> float | None:
    value = r.headers.get("retry-after", "")
    return float(value) if value.replace(".", "", 1).isdigit() else None


def _safe(url: str) -> str:
    """The URL without its query string (which may carry an access token)."""
    return url.split("?", 1)[0]
