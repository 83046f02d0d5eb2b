"""A website: pages from a sitemap.xml (or a `urls` list); visible text, image files and alt text.
Each page is judged as a post on the website channel."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

from . import Http, Published, SourceError, parse_time, source_type

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


class _Visible(HTMLParser):
    SKIP = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.images: list[tuple[str, str]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        if tag == "img":
            a = dict(attrs)
            if a.get("src"):
                self.images.append((a["src"] or "", a.get("alt") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.text.append(data.strip())


def page_urls(cfg: dict[str, Any], http: Http) -> list[tuple[str, datetime | None]]:
    if cfg.get("urls"):
        return [(u, None) for u in cfg["urls"]]
    url = cfg["url"]
    if not re.search(r"sitemap[^/]*\.xml$", url):
        return [(url, None)]
    try:
        root = ET.fromstring(http.get(url).content)
    except ET.ParseError as exc:
        raise SourceError(f"{cfg['name']}: not a valid sitemap ({exc.msg})") from None
    return [(loc.text.strip(), parse_time(u.findtext(f"{SITEMAP}lastmod")))
            for u in root.findall(f"{SITEMAP}url") if (loc := u.find(f"{SITEMAP}loc")) is not None and loc.text]


@source_type("website", ())
def fetch(cfg: dict[str, Any], http: Http, since: datetime | None) -> Iterator[Published]:
    if not cfg.get("url") and not cfg.get("urls"):
        raise SourceError(f"{cfg['name']}: a website source needs 'url' (sitemap or page) or 'urls'")
    for url, lastmod in page_urls(cfg, http):
        if since and lastmod and lastmod < since:
            continue
        parser = _Visible()
        parser.feed(http.get(url).text)
        alts = [alt for _, alt in parser.images if alt]
        text = " ".join(parser.text + alts)
        yield Published(id=f"{cfg['name']}:{url}", kind="post", channel="website", text=text, permalink=url,
                        image_urls=[urljoin(url, src) for src, _ in parser.images], published_at=lastmod)
