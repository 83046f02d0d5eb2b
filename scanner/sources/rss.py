"""RSS 2.0 and Atom feeds (the spa's blog or a social feed bridge): each entry is judged as a post."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from html import unescape
from typing import Any

from . import Http, Published, SourceError, parse_time, source_type

ATOM = "{http://www.w3.org/2005/Atom}"
MEDIA = "{http://search.yahoo.com/mrss/}"


def strip_html(s: str) -> tuple[str, list[str]]:
    imgs = re.findall(r"<img[^>]+src=[\"']([^\"']+)", s, re.I)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", s)).split()), imgs


@source_type("rss", ("url",))
def fetch(cfg: dict[str, Any], http: Http, since: datetime | None) -> Iterator[Published]:
    raw = http.get(cfg["url"]).content
    if b"<!ENTITY" in raw[:4096]:
        raise SourceError(f"{cfg['name']}: feed declares XML entities; refused")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise SourceError(f"{cfg['name']}: not a valid feed ({exc.msg})") from None
    channel = cfg.get("channel", "website")
    entries = root.findall("./channel/item") or root.findall(f"{ATOM}entry")
    for e in entries:
        if e.tag == "item":
            guid = e.findtext("guid") or e.findtext("link") or ""
            title, body = e.findtext("title") or "", e.findtext("description") or ""
            link, when = e.findtext("link"), parse_time(e.findtext("pubDate"))
            media = [m.get("url", "") for m in e.findall(f"{MEDIA}content") + e.findall("enclosure")
                     if (m.get("type") or "image").startswith("image")]
        else:
            guid = e.findtext(f"{ATOM}id") or ""
            title = e.findtext(f"{ATOM}title") or ""
            body = e.findtext(f"{ATOM}content") or e.findtext(f"{ATOM}summary") or ""
            link_el = e.find(f"{ATOM}link")
            link = link_el.get("href") if link_el is not None else None
            when = parse_time(e.findtext(f"{ATOM}updated") or e.findtext(f"{ATOM}published"))
            media = []
        if since and when and when < since:
            continue
        text, imgs = strip_html(body)
        yield Published(id=f"{cfg['name']}:{guid}", kind="post", channel=channel,
                        text=f"{title}\n{text}".strip(), permalink=link, image_urls=[u for u in media + imgs if u],
                        published_at=when)
