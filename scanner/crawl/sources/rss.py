"""RSS 2.0 (also RSS 1.0/RDF) and Atom feeds: the spa's blog or a feed bridge of a social account. Each
entry is judged as a post: title plus body (content:encoded, description, Atom content or summary, HTML
read as a reader sees it, alt text included), pictures from enclosures, Media RSS and the body's <img>.
Follows RFC 5005 `<link rel="next">` pages. Config: `url`; optional `channel` (default website)."""
from __future__ import annotations

import gzip
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import urljoin

from ._html import read_html
from ._http import SourceError, safe_url
from .base import FetchContext, Published, SourceType, parse_time, register, video_note

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
MEDIA = "{http://search.yahoo.com/mrss/}"
DC = "{http://purl.org/dc/elements/1.1/}"
RSS1 = "{http://purl.org/rss/1.0/}"
MAX_FEED_BYTES = 20_000_000


def parse_xml(raw: bytes, what: str, url: str) -> ET.Element:
    """Parse a feed or sitemap: gzip unpacked, entity declarations refused (billion laughs, XXE)."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError):
            raise SourceError(f"{what} at {safe_url(url)} is a broken gzip file") from None
        if len(raw) > MAX_FEED_BYTES:
            raise SourceError(f"{what} at {safe_url(url)} is larger than {MAX_FEED_BYTES:,} bytes unpacked")
    if b"<!ENTITY" in raw[:16384]:
        raise SourceError(f"{what} at {safe_url(url)} declares XML entities; refused")
    try:
        return ET.fromstring(raw)
    except ET.ParseError as exc:
        raise SourceError(f"{what} at {safe_url(url)} is not valid XML ({exc})") from None


def _text(el: ET.Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _atom_body(entry: ET.Element) -> str:
    for tag in ("content", "summary"):
        el = entry.find(f"{ATOM}{tag}")
        if el is None:
            continue
        if el.get("type") == "xhtml":
            return "".join(ET.tostring(child, encoding="unicode", method="html") for child in el)
        if el.text and el.text.strip():
            return el.text
    return ""


def _atom_link(entry: ET.Element, rel: str = "alternate") -> str | None:
    for link in entry.findall(f"{ATOM}link"):
        if link.get("rel", "alternate") == rel and link.get("href"):
            return link.get("href")
    return None


def _media(entry: ET.Element) -> tuple[list[str], list[str]]:
    """(picture URLs, video URLs) from enclosures, Media RSS and Atom enclosure links."""
    images, videos = [], []
    for m in entry.iter():
        if m.tag in (f"{MEDIA}content", "enclosure", f"{MEDIA}thumbnail"):
            url, kind, medium = m.get("url") or "", m.get("type") or "", m.get("medium") or ""
        elif m.tag == f"{ATOM}link" and m.get("rel") == "enclosure":
            url, kind, medium = m.get("href") or "", m.get("type") or "", ""
        else:
            continue
        if not url:
            continue
        if m.tag == f"{MEDIA}thumbnail" or kind.startswith("image/") or medium == "image":
            images.append(url)
        elif kind.startswith("video/") or medium == "video":
            videos.append(url)
    return images, videos


def entries(root: ET.Element, url: str) -> tuple[list[ET.Element], bool]:
    """(the feed's entries, whether it is Atom)."""
    if root.tag == f"{ATOM}feed":
        return root.findall(f"{ATOM}entry"), True
    if root.tag == "rss":
        return root.findall("./channel/item"), False
    if root.tag.endswith("RDF"):
        return root.findall(f"{RSS1}item"), False
    raise SourceError(f"{safe_url(url)} is not an RSS or Atom feed (root element <{root.tag.rsplit('}', 1)[-1]}>)")


def next_page(root: ET.Element, url: str) -> str | None:
    scope = root.find("channel") if root.tag == "rss" else root
    if scope is None:
        return None
    for link in scope.findall(f"{ATOM}link"):
        if link.get("rel") == "next" and link.get("href"):
            return urljoin(url, link.get("href") or "")
    return None


def fetch(ctx: FetchContext) -> Iterator[Published]:
    src = ctx.source
    url: str | None = src.get("url")
    channel = src.get("channel", "website")
    seen_pages: set[str] = set()
    max_pages = int(src.get("max_pages", 50))
    while url and url not in seen_pages and len(seen_pages) < max_pages:
        seen_pages.add(url)
        raw = ctx.http.get(url, accept="application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5")
        root = parse_xml(raw.content, "the feed", url)
        found, atom = entries(root, url)
        for e in found:
            if atom:
                guid = _text(e.find(f"{ATOM}id"))
                title = _text(e.find(f"{ATOM}title"))
                body = _atom_body(e)
                link = _atom_link(e)
                when = parse_time(_text(e.find(f"{ATOM}published")) or _text(e.find(f"{ATOM}updated")))
            else:
                ns = RSS1 if root.tag.endswith("RDF") else ""
                guid = _text(e.find("guid")) or e.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about", "")
                title = _text(e.find(f"{ns}title"))
                body = _text(e.find(f"{CONTENT}encoded")) or _text(e.find(f"{ns}description"))
                link = _text(e.find(f"{ns}link")) or None
                when = parse_time(_text(e.find("pubDate")) or _text(e.find(f"{DC}date")))
            if ctx.too_old(when):
                continue
            page = read_html(body, link or url)
            pid = guid or link or hashlib.sha256(f"{title}|{when}".encode()).hexdigest()[:24]
            pictures, videos = _media(e)
            images = list(dict.fromkeys([urljoin(link or url, u) for u in pictures] + page.images))
            yield Published(id=src.item_id(pid), kind="post", channel=channel,
                            text="\n".join(x for x in (title, page.text) if x), permalink=link,
                            image_urls=images, published_at=when,
                            unchecked=[video_note(safe_url(urljoin(link or url, v))) for v in videos])
        url = next_page(root, url)


register(SourceType("rss", fetch, required={"url": "url"}, optional={"channel": "channel", "max_pages": "int"}))
