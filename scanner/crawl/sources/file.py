"""A CSV or JSONL export of published content, for platforms without a connector (TikTok, Yelp, email
campaigns). One item per row in the DESIGN.md input shape (`id`, `kind`, `channel`, `text`,
`in_reply_to`, `author`, `images` as local paths relative to the file) plus optional `permalink`,
`published_at` and `image_urls` (downloaded like any connector's pictures; a list, or `;`-separated in
CSV). A bad row is a warning with its line number; the other rows are still read.
Config: `path` (relative to sources.yaml); optional `channel` (the default for rows without one)."""
from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...core.scrub import scrub_json
from ._http import SourceError
from .base import FetchContext, Published, SourceType, parse_time, register

MAX_FILE_BYTES = 200_000_000


def _rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, row) pairs; a JSONL line that is not JSON comes back as an Exception."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                yield reader.line_num, row
        return
    with path.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield n, scrub_json(json.loads(line))  # lone surrogates become U+FFFD
            except json.JSONDecodeError as exc:
                yield n, ValueError(f"not valid JSON (column {exc.colno})")


def _list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v for v in value if v]
    raise ValueError("expected a list of strings")


def _row(ctx: FetchContext, row: Any, base: Path) -> Published:
    from ...core.models import CHANNELS, KINDS

    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    kind = str(row.get("kind") or "post").strip().lower()
    channel = str(row.get("channel") or ctx.source.get("channel") or "website").strip().lower()
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (expected {', '.join(KINDS)})")
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r} (expected {', '.join(CHANNELS)})")
    for key in ("text", "in_reply_to", "author", "permalink", "id"):
        if row.get(key) is not None and not isinstance(row.get(key), str | int):
            raise ValueError(f"'{key}' must be a string")
    text = str(row.get("text") or "")
    images = [str((base / p).resolve()) if not Path(p).is_absolute() else p for p in _list(row.get("images"))]
    urls = _list(row.get("image_urls"))
    if not text.strip() and not images and not urls:
        raise ValueError("no text and no images")
    pid = str(row.get("id") or "").strip() or str(row.get("permalink") or "").strip() or (
        "sha256:" + hashlib.sha256(f"{kind}|{channel}|{text}".encode()).hexdigest()[:24])
    return Published(id=ctx.source.item_id(pid), kind=kind, channel=channel, text=text,
                     permalink=str(row.get("permalink") or "") or None,
                     in_reply_to=str(row.get("in_reply_to") or "") or None, author=str(row.get("author") or "") or None,
                     image_urls=urls, images=images, published_at=parse_time(row.get("published_at")))


def fetch(ctx: FetchContext) -> Iterator[Published]:
    path = Path(str(ctx.source.get("path")))
    if not path.is_file():
        raise SourceError(f"no such file {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise SourceError(f"{path.name} is larger than {MAX_FILE_BYTES:,} bytes")
    seen: set[str] = set()
    try:
        for line, row in _rows(path):
            try:
                if isinstance(row, Exception):
                    raise row
                item = _row(ctx, row, path.parent)
            except ValueError as exc:
                ctx.warn(f"{path.name} line {line}: {exc}; row skipped")
                continue
            if item.id in seen:
                ctx.warn(f"{path.name} line {line}: duplicate id; row skipped")
                continue
            seen.add(item.id)
            if not ctx.too_old(item.published_at):
                yield item
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"{path.name} could not be read ({type(exc).__name__}); use UTF-8 CSV or JSONL") from None


register(SourceType("file", fetch, required={"path": "path"}, optional={"channel": "channel"}))
