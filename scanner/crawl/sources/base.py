"""What every connector shares: the `Published` item it yields, the validated `Source` it reads, the
`FetchContext` it gets, the `SourceType` it registers (`register`, `SOURCE_TYPES`) and the small helpers
(`parse_time`, `as_list`, `video_note`). The package `scanner.crawl.sources` re-exports all of it."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from ._http import Http, SourceError, safe_url

MAX_ID = 200  # Item.id limit


@dataclass
class Published:
    """One published item in the DESIGN.md input shape, plus where it lives and when it was published.
    `images` are local files (file exports); `image_urls` are downloaded by the crawl; `unchecked` notes
    parts that cannot be checked (a video), which keep the item from passing."""

    id: str
    kind: str
    channel: str
    text: str
    permalink: str | None = None
    in_reply_to: str | None = None
    author: str | None = None
    image_urls: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    unchecked: list[str] = field(default_factory=list)  # parts published with it that cannot be checked


def video_note(where: str) -> str:
    """The scan_incomplete note for a video published with an item (videos are not checked)."""
    return (f"A video was published with this item ({where}); videos are not checked (only a cover picture is, "
            "when the platform gives one), so a reviewer must watch it.")


@dataclass
class Source:
    """One validated entry of sources.yaml. The token is kept out of repr() and of every message."""

    name: str
    type: str
    opts: dict[str, Any]
    token: str | None = field(default=None, repr=False)

    def get(self, key: str, default: Any = None) -> Any:
        return self.opts.get(key, default)

    def item_id(self, platform_id: str) -> str:
        """The platform's item id prefixed with the source name; hashed when it would be too long."""
        full = f"{self.name}:{platform_id}"
        if len(full) <= MAX_ID:
            return full
        return f"{self.name}:sha256:{hashlib.sha256(platform_id.encode()).hexdigest()[:40]}"


@dataclass
class FetchContext:
    """What a connector gets: its source, the shared client, the time window and a place for warnings
    (a row or page it skipped; the source still counts as read, partially) and for the ids of items it
    knows exist but could not read (never counted as removed)."""

    source: Source
    http: Http
    since: datetime | None = None
    warnings: list[str] = field(default_factory=list)
    unreadable: set[str] = field(default_factory=set)  # item ids seen listed but not read this time

    def warn(self, message: str) -> None:
        self.warnings.append(self.http.redact(message))

    def too_old(self, when: datetime | None) -> bool:
        return bool(self.since and when and when < self.since)


Fetcher = Callable[[FetchContext], Iterator[Published]]


@dataclass(frozen=True)
class SourceType:
    """A connector and the sources.yaml keys it takes: `required` keys, `one_of` groups (at least one
    key of each group), and `optional` keys with their kinds (id, url, urls, path, str, int, bool)."""

    name: str
    fetch: Fetcher
    required: dict[str, str]
    optional: dict[str, str] = field(default_factory=dict)
    one_of: tuple[tuple[str, ...], ...] = ()
    default_base: str | None = None
    uses_token: bool = False


SOURCE_TYPES: dict[str, SourceType] = {}


def register(st: SourceType) -> SourceType:
    SOURCE_TYPES[st.name] = st
    return st


def parse_time(value: Any) -> datetime | None:
    """A platform timestamp (ISO 8601 with Z or +0000, RFC 822, unix seconds) as naive UTC, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), UTC).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):
            return None
    s = str(value).strip()
    dt: datetime | None
    try:
        iso = s.replace("Z", "+00:00")
        if len(iso) > 5 and iso[-5] in "+-" and iso[-4:].isdigit() and ":" not in iso[-5:]:
            iso = f"{iso[:-2]}:{iso[-2:]}"  # +0000 -> +00:00 (Graph API)
        dt = datetime.fromisoformat(iso)
    except ValueError:
        try:
            dt = parsedate_to_datetime(s)
        except (TypeError, ValueError, IndexError):
            return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def as_list(body: Any, key: str, url: str) -> list[Any]:
    """body[key] as a list; SourceError naming the URL when the answer does not have that shape."""
    if not isinstance(body, dict):
        raise SourceError(f"unexpected answer from {safe_url(url)}: expected a JSON object")
    value = body.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise SourceError(f"unexpected answer from {safe_url(url)}: '{key}' is not a list")
    return value
