"""Connectors for the weekly scan of published content.

Each source type (one module each: rss, website, facebook, instagram, google_business, file) reads a
platform's real API shapes through the shared client in `_http` and yields `Published` items. What the
spa itself published is what gets judged (its posts and captions as `post`, its replies to comments as
`comment`, its owner replies to reviews as `reply`); the public's comments and reviews only ride along
as the `in_reply_to` context of the replies that answer them. Public surface: `SOURCE_TYPES`,
`SourceType`, `Source`, `FetchContext`, `Published`, `Http`, `HttpOptions`, `Limiter`, `Stats`,
`SourceError`, `ImageRejected`, `parse_time`.
"""
from __future__ import annotations

from . import facebook, file, google_business, instagram, rss, website  # noqa: F401  (the connectors register themselves)
from ._http import Http, HttpOptions, ImageRejected, Limiter, SourceError, Stats, safe_url
from .base import (
    SOURCE_TYPES,
    FetchContext,
    Published,
    Source,
    SourceType,
    as_list,
    parse_time,
    register,
    video_note,
)

__all__ = ["SOURCE_TYPES", "FetchContext", "Http", "HttpOptions", "ImageRejected", "Limiter", "Published",
           "Source", "SourceError", "SourceType", "Stats", "as_list", "parse_time", "register", "safe_url",
           "video_note"]
