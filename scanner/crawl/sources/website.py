"""A website: its pages from a sitemap.xml (a sitemap index and gzipped sitemaps too), a `urls` list, or
one page `url`. Each page is one item (kind post, channel website, id = source name + page URL) with
the visible text, title and descriptions, the alt text of its pictures, and its pictures (<img>,
lazy-loaded and srcset pictures, og:image) to download. A page that cannot be read or is not HTML is a
warning (the others go on) and is never counted as removed."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from ._html import read_html
from ._http import SourceError, safe_url
from .base import FetchContext, Published, SourceType, parse_time, register
from .rss import parse_xml

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
HTML_TYPES = ("text/html", "application/xhtml+xml")


def _looks_like_sitemap(body: bytes, ctype: str) -> bool:
    head = body[:2048].lstrip().lower()
    return body[:2] == b"\x1f\x8b" or (("xml" in ctype or head.startswith(b"<?xml"))
                                        and (b"<urlset" in body[:4096] or b"<sitemapindex" in body[:4096]))


def sitemap_pages(ctx: FetchContext, url: str, depth: int = 0,
                  body: bytes | None = None) -> list[tuple[str, datetime | None]]:
    """(page URL, lastmod) for every <url> of a sitemap, following sitemap indexes (two levels at most)."""
    if body is None:
        body = ctx.http.get(url, accept="application/xml, text/xml;q=0.9, */*;q=0.5").content
    root = parse_xml(body, "the sitemap", url)
    local = root.tag.rsplit("}", 1)[-1]
    out: list[tuple[str, datetime | None]] = []
    if local == "sitemapindex":
        if depth >= 2:
            raise SourceError(f"sitemap index nested too deep at {safe_url(url)}")
        for sm in root.findall(f"{SITEMAP}sitemap"):
            loc = (sm.findtext(f"{SITEMAP}loc") or "").strip()
            if not loc:
                continue
            if ctx.too_old(parse_time(sm.findtext(f"{SITEMAP}lastmod"))):
                continue
            try:
                out.extend(sitemap_pages(ctx, loc, depth + 1))
            except SourceError as exc:
                ctx.warn(f"sitemap not read: {exc}")
        return out
    if local != "urlset":
        raise SourceError(f"{safe_url(url)} is not a sitemap (root element <{local}>)")
    for u in root.findall(f"{SITEMAP}url"):
        loc = (u.findtext(f"{SITEMAP}loc") or "").strip()
        if loc:
            out.append((loc, parse_time(u.findtext(f"{SITEMAP}lastmod"))))
    return out


def page_list(ctx: FetchContext) -> tuple[list[tuple[str, datetime | None]], dict[str, bytes]]:
    """The pages to read, and bodies already fetched while finding out what `url` is."""
    src = ctx.source
    if src.get("urls"):
        return [(u, None) for u in src.get("urls")], {}
    url = src.get("url")
    r = ctx.http.get(url, accept="text/html, application/xml;q=0.9, */*;q=0.5")
    ctype = r.headers.get("content-type", "").split(";")[0].strip().lower()
    if _looks_like_sitemap(r.content, ctype):
        return sitemap_pages(ctx, url, body=r.content), {}
    return [(url, None)], {url: r.content if ctype in HTML_TYPES or not ctype else b""}


def fetch(ctx: FetchContext) -> Iterator[Published]:
    src = ctx.source
    pages, prefetched = page_list(ctx)
    pages = list(dict.fromkeys(pages))
    limit = int(src.get("max_pages", 5000))
    if len(pages) > limit:
        ctx.warn(f"{len(pages):,} pages listed; only the first {limit:,} were read (max_pages)")
        pages = pages[:limit]
    todo = [(u, lastmod) for u, lastmod in pages if not ctx.too_old(lastmod)]

    def read(entry: tuple[str, datetime | None]) -> Published | None:
        url, lastmod = entry
        try:
            if url in prefetched and prefetched[url]:
                body, ctype = prefetched[url].decode("utf-8", "replace"), "text/html"
            else:
                r = ctx.http.get(url, accept="text/html, application/xhtml+xml;q=0.9, */*;q=0.5")
                ctype = r.headers.get("content-type", "").split(";")[0].strip().lower()
                body = r.text
        except SourceError as exc:
            ctx.warn(f"page not read: {exc}")
            ctx.unreadable.add(src.item_id(url))
            return None
        if ctype and ctype not in HTML_TYPES:
            ctx.warn(f"page not checked: {safe_url(url)} is {ctype}, not HTML")
            ctx.unreadable.add(src.item_id(url))
            return None
        page = read_html(body, url)
        return Published(id=src.item_id(url), kind="post", channel="website", text=page.text, permalink=url,
                         image_urls=page.images, published_at=lastmod)

    for item in ctx.http.map(read, todo):
        if item is not None:
            yield item


register(SourceType("website", fetch, required={}, optional={"url": "url", "urls": "urls", "max_pages": "int"},
                    one_of=(("url", "urls"),)))
