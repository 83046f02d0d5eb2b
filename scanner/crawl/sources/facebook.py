"""Facebook Page through the Graph API (`/{page_id}/posts` with comments and their replies expanded).

The page's posts are judged as posts (message plus its pictures: `full_picture` and photo attachments,
a video attachment is noted as not checked); the page's own comments are judged as comments, and when
one answers a member of the public that comment is its `in_reply_to` and the commenter its `author`.
Comments by the public are context only. Paging follows `paging.next` (which carries the
`paging.cursors.after` cursor), for the post list and for nested comment lists alike.
Config: `page_id`; `token_env` (a Page access token); `base_url` (default Graph API v19.0)."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ._http import SourceError, safe_url
from .base import FetchContext, Published, SourceType, as_list, parse_time, register, video_note

DEFAULT_BASE = "https://graph.facebook.com/v19.0"
ACTOR = "id,message,created_time,permalink_url,from{id,name}"
FIELDS = (f"id,message,created_time,permalink_url,full_picture,"
          f"attachments{{type,media_type,media,url,subattachments}},"
          f"comments.limit(50){{{ACTOR},comments.limit(50){{{ACTOR}}}}}")


def unix(when: datetime) -> int:
    """Naive UTC -> unix seconds (the Graph API's `since`)."""
    return int(when.replace(tzinfo=UTC).timestamp())


def graph_list(ctx: FetchContext, url: str, params: dict[str, Any] | None = None,
               first: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every element of a Graph API list across its pages. `first` is an already-fetched first page
    (a nested edge such as a post's `comments`). Stops at a repeated cursor or after max_pages pages."""
    seen: set[str] = set()
    max_pages = int(ctx.source.get("max_pages", 1000))
    body = first
    pages = 0
    while True:
        if body is None:
            body = ctx.http.json(url, params)
        pages += 1
        for el in as_list(body, "data", url):
            if isinstance(el, dict):
                yield el
        paging = body.get("paging") if isinstance(body, dict) else None
        nxt = paging.get("next") if isinstance(paging, dict) else None
        if not nxt:
            return  # Graph API: no `next` link means this was the last page, whatever the cursors say
        url, params = str(nxt), None  # `next` carries the whole query, the `after` cursor included
        if url in seen:
            return
        if pages >= max_pages:
            ctx.warn(f"stopped after {max_pages} pages of {safe_url(url)} (max_pages)")
            return
        seen.add(url)
        body = None


def edge(ctx: FetchContext, obj: dict[str, Any], name: str) -> Iterator[dict[str, Any]]:
    """A nested edge (`comments`, `replies`) of an object, with its own paging."""
    first = obj.get(name)
    if not isinstance(first, dict):
        return iter(())
    return graph_list(ctx, "", None, first=first)


def _pictures(post: dict[str, Any]) -> tuple[list[str], list[str]]:
    images, videos = [], []
    if post.get("full_picture"):
        images.append(str(post["full_picture"]))
    atts = post.get("attachments") or {}
    stack = list(atts.get("data") or []) if isinstance(atts, dict) else []
    while stack:
        att = stack.pop(0)
        if not isinstance(att, dict):
            continue
        media = att.get("media") or {}
        src = ((media.get("image") or {}).get("src")) if isinstance(media, dict) else None
        kind = str(att.get("media_type") or att.get("type") or "")
        if src:
            images.append(str(src))
        if "video" in kind:
            videos.append(str((media or {}).get("source") or att.get("url") or "video"))
        subs = att.get("subattachments") or {}
        if isinstance(subs, dict):
            stack.extend(subs.get("data") or [])
    return list(dict.fromkeys(images)), videos


def fetch(ctx: FetchContext) -> Iterator[Published]:
    src = ctx.source
    base = str(src.get("base_url") or DEFAULT_BASE).rstrip("/")
    page = ctx.http.json(f"{base}/{src.get('page_id')}", {"fields": "id,name"})
    page_id = str(page.get("id") or src.get("page_id")) if isinstance(page, dict) else str(src.get("page_id"))
    params: dict[str, Any] = {"fields": FIELDS, "limit": int(src.get("page_size", 25))}
    if ctx.since:
        params["since"] = unix(ctx.since)
    for post in graph_list(ctx, f"{base}/{src.get('page_id')}/posts", params):
        if "id" not in post:
            raise SourceError(f"unexpected answer from {base}/…/posts: a post without an id")
        when = parse_time(post.get("created_time"))
        link = post.get("permalink_url")
        if not ctx.too_old(when):
            images, videos = _pictures(post)
            yield Published(id=src.item_id(str(post["id"])), kind="post", channel="facebook",
                            text=str(post.get("message") or ""), permalink=link, image_urls=images,
                            published_at=when, unchecked=[video_note("a video attachment") for _ in videos])
        for comment in edge(ctx, post, "comments"):
            by_page = str((comment.get("from") or {}).get("id")) == page_id
            if by_page and not ctx.too_old(parse_time(comment.get("created_time"))):
                yield _own(ctx, comment, None, None, link)
            for reply in edge(ctx, comment, "comments"):
                if str((reply.get("from") or {}).get("id")) != page_id:
                    continue  # the public's replies are context, never judged
                if ctx.too_old(parse_time(reply.get("created_time"))):
                    continue
                commenter = None if by_page else (comment.get("from") or {}).get("name")
                yield _own(ctx, reply, str(comment.get("message") or "") or None, commenter, link)


def _own(ctx: FetchContext, c: dict[str, Any], in_reply_to: str | None, author: str | None,
         post_link: str | None) -> Published:
    if "id" not in c:
        raise SourceError("unexpected answer from the Graph API: a comment without an id")
    return Published(id=ctx.source.item_id(str(c["id"])), kind="comment", channel="facebook",
                     text=str(c.get("message") or ""), in_reply_to=in_reply_to, author=author,
                     permalink=c.get("permalink_url") or post_link, published_at=parse_time(c.get("created_time")))


register(SourceType("facebook_page", fetch, required={"page_id": "id"},
                    optional={"page_size": "int", "max_pages": "int"}, default_base=DEFAULT_BASE, uses_token=True))
