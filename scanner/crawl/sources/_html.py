"""HTML as a reader sees it, for the website and feed connectors: the visible text (plus the title and
the descriptions search engines and link previews show), every picture (`<img>` src, lazy-loading
`data-src`, the largest `srcset` candidate, `og:image`) with its alt text, and the text of SVG files."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

SKIP = {"script", "style", "noscript", "template", "svg", "iframe", "object", "canvas"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "header",
         "footer", "blockquote", "figcaption", "dd", "dt", "td", "th", "title", "nav", "main", "aside"}
META_TEXT = {"description", "og:title", "og:description", "twitter:title", "twitter:description"}
META_IMAGE = {"og:image", "og:image:url", "og:image:secure_url", "twitter:image"}


@dataclass
class Page:
    text: str
    images: list[str] = field(default_factory=list)  # absolute URLs (or data: URIs), in page order, unique
    alts: list[str] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.meta: list[str] = []
        self.images: list[str] = []
        self.alts: list[str] = []
        self.title: list[str] = []
        self._skip: list[str] = []
        self._in_title = False
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP:
            self._skip.append(tag)
            return
        if self._skip:
            return
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "head":
            self._in_head = True
        elif tag == "title":
            self._in_title = True
        elif tag == "meta":
            key = (a.get("name") or a.get("property") or "").lower()
            if key in META_TEXT and a.get("content"):
                self.meta.append(a["content"])
            elif key in META_IMAGE and a.get("content"):
                self.images.append(a["content"])
        elif tag == "img":
            src = a.get("src", "")
            lazy = a.get("data-src") or a.get("data-lazy-src") or a.get("data-original") or ""
            best = largest_srcset(a.get("srcset") or a.get("data-srcset") or "")
            if lazy and (not src or src.startswith("data:image/gif") or src.startswith("data:image/svg")):
                src = lazy  # a lazy-loading placeholder: the real picture is in data-src
            if best:
                src = best
            if src:
                self.images.append(src)
            alt = a.get("alt", "").strip()
            if alt:
                self.alts.append(alt)
                self.parts.append(f"\n{alt}\n")
        if tag in BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.pop()
            return
        if tag == "head":
            self._in_head = False
        elif tag == "title":
            self._in_title = False
        if tag in BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.title.append(data)
        elif not self._in_head:
            self.parts.append(data)


def largest_srcset(srcset: str) -> str:
    """The widest candidate of a srcset ("a.jpg 480w, b.jpg 1080w" -> b.jpg)."""
    best, best_w = "", -1.0
    for cand in srcset.split(","):
        bits = cand.strip().split()
        if not bits:
            continue
        w = 1.0
        if len(bits) > 1 and re.fullmatch(r"\d+(\.\d+)?[wx]", bits[1]):
            w = float(bits[1][:-1])
        if w > best_w:
            best, best_w = bits[0], w
    return best


def tidy(text: str) -> str:
    """Collapse runs of spaces inside lines and drop empty lines."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def read_html(html: str, base_url: str = "") -> Page:
    """The page as a reader sees it. Image URLs are made absolute against `base_url` and de-duplicated."""
    r = _Reader()
    try:
        r.feed(html)
        r.close()
    except (AssertionError, ValueError):  # html.parser gives up on some broken markup; keep what was read
        pass
    head = [" ".join("".join(r.title).split()), *r.meta]
    text = tidy("\n".join([*head, "".join(r.parts)]))
    seen: set[str] = set()
    images = []
    for src in r.images:
        src = src.strip()
        url = src if src.startswith("data:") else urljoin(base_url, src) if base_url else src
        if url and url not in seen:
            seen.add(url)
            images.append(url)
    return Page(text=text, images=images, alts=r.alts)


SVG_TEXT_TAGS = ("text", "tspan", "title", "desc", "textPath")


def svg_text(data: bytes) -> tuple[str, bool]:
    """(the words an SVG shows, whether it embeds raster pictures). Entity declarations are refused."""
    if b"<!ENTITY" in data[:8192]:
        raise ValueError("SVG declares XML entities")
    root = ET.fromstring(data)
    words: list[str] = []
    raster = False
    for el in root.iter():
        local = el.tag.rsplit("}", 1)[-1]
        if local in SVG_TEXT_TAGS and el.text and el.text.strip():
            words.append(el.text.strip())
        if local == "image":
            raster = True
    return tidy("\n".join(words)), raster
