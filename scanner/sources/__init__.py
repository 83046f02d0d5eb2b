"""Connectors for the weekly scan of published content. Each source type turns a platform's real API
shapes into `Published` items: what the spa published is judged (its posts, captions, replies), the
public's comments and reviews ride along as `in_reply_to` context."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._http import Http, SourceError


@dataclass
class Published:
    """One published item: the DESIGN.md input fields plus where it lives."""

    id: str
    kind: str
    channel: str
    text: str
    permalink: str | None = None
    in_reply_to: str | None = None
    author: str | None = None
    image_urls: list[str] = field(default_factory=list)
    published_at: datetime | None = None


Fetcher = Callable[[dict[str, Any], Http, datetime | None], Iterator[Published]]
SOURCE_TYPES: dict[str, tuple[Fetcher, tuple[str, ...]]] = {}


def source_type(name: str, required: tuple[str, ...]) -> Callable[[Fetcher], Fetcher]:
    def wrap(fn: Fetcher) -> Fetcher:
        SOURCE_TYPES[name] = (fn, required)
        return fn
    return wrap


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    from email.utils import parsedate_to_datetime

    s = str(value).strip()
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00").replace("+0000", "+00:00"))
    except ValueError:
        try:
            dt = parsedate_to_datetime(s)
        except (TypeError, ValueError):
            return None
    return dt.replace(tzinfo=None) if dt.tzinfo is None else dt.astimezone().replace(tzinfo=None)


from . import facebook, file, google_business, instagram, rss, website  # noqa: E402,F401

__all__ = ["SOURCE_TYPES", "Http", "Published", "SourceError", "parse_time", "source_type"]
