"""A CSV or JSONL export (anything without a connector): one item per row in the input shape,
plus optional `permalink` and `image_urls`."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from . import Http, Published, SourceError, parse_time, source_type


@source_type("file", ("path",))
def fetch(cfg: dict[str, Any], http: Http, since: datetime | None) -> Iterator[Published]:
    path = Path(cfg["path"])
    if not path.is_file():
        raise SourceError(f"{cfg['name']}: no such file {path}")
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            rows: list[dict[str, Any]] = list(csv.DictReader(fh))
    else:
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise SourceError(f"{cfg['name']}: {path.name} line {n} is not JSON") from None
    for n, r in enumerate(rows, 1):
        when = parse_time(r.get("published_at"))
        if since and when and when < since:
            continue
        urls = r.get("image_urls") or []
        if isinstance(urls, str):
            urls = [u for u in urls.split(";") if u]
        yield Published(id=f"{cfg['name']}:{r.get('id') or n}", kind=r.get("kind") or "post",
                        channel=r.get("channel") or cfg.get("channel", "website"), text=r.get("text") or "",
                        permalink=r.get("permalink") or None, in_reply_to=r.get("in_reply_to") or None,
                        author=r.get("author") or None, image_urls=list(urls), published_at=when)
