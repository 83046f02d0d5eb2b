"""Instagram professional account through the Instagram Graph API.

`/{ig_user_id}` gives the account's username; `/{ig_user_id}/media` lists the media (caption, media_url,
thumbnail_url, permalink, carousel children); `/{media_id}/comments` lists each medium's comments with
their `replies`. Captions are judged as posts with their pictures (a video's cover picture is checked
and the video noted as not checked); the account's own comments and replies are judged as comments,
a reply with the comment it answers as `in_reply_to` and the commenter's @username as `author`. The
public's comments are context only. Cursor paging follows `paging.next`.
Config: `ig_user_id`; `token_env`; `base_url` (default Graph API v19.0)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._http import SourceError
from .base import FetchContext, Published, SourceType, parse_time, register, video_note
from .facebook import DEFAULT_BASE, edge, graph_list, unix

WHO = "id,text,timestamp,username,from{id,username}"
MEDIA_FIELDS = ("id,caption,media_type,media_product_type,media_url,thumbnail_url,permalink,timestamp,username,"
                "comments_count,children{id,media_type,media_url,thumbnail_url}")
COMMENT_FIELDS = f"{WHO},replies{{{WHO}}}"


def _pictures(media: dict[str, Any]) -> tuple[list[str], int]:
    """(picture URLs, number of videos) of a medium, carousel children included."""
    images: list[str] = []
    videos = 0
    parts = [media]
    children = media.get("children")
    if isinstance(children, dict):
        parts.extend(c for c in children.get("data") or [] if isinstance(c, dict))
    for m in parts:
        kind = str(m.get("media_type") or "").upper()
        if kind == "CAROUSEL_ALBUM" and m is media and len(parts) > 1:
            continue
        if kind == "VIDEO":
            videos += 1
            if m.get("thumbnail_url"):
                images.append(str(m["thumbnail_url"]))
        elif m.get("media_url"):
            images.append(str(m["media_url"]))
    return list(dict.fromkeys(images)), videos


def _is_own(c: dict[str, Any], user_id: str, username: str) -> bool:
    who: dict[str, Any] = c["from"] if isinstance(c.get("from"), dict) else {}
    return str(who.get("id") or "") == user_id or (
        bool(username) and str(c.get("username") or who.get("username") or "").lower().lstrip("@") == username)


def fetch(ctx: FetchContext) -> Iterator[Published]:
    src = ctx.source
    base = str(src.get("base_url") or DEFAULT_BASE).rstrip("/")
    uid = str(src.get("ig_user_id"))
    me = ctx.http.json(f"{base}/{uid}", {"fields": "id,username"})
    if not isinstance(me, dict):
        raise SourceError(f"unexpected answer from {base}/{{ig_user_id}}: expected a JSON object")
    user_id = str(me.get("id") or uid)
    username = str(me.get("username") or src.get("username") or "").lower().lstrip("@")
    params: dict[str, Any] = {"fields": MEDIA_FIELDS, "limit": int(src.get("page_size", 25))}
    if ctx.since:
        params["since"] = unix(ctx.since)
    medias = []
    for media in graph_list(ctx, f"{base}/{uid}/media", params):
        if "id" not in media:
            raise SourceError(f"unexpected answer from {base}/…/media: a medium without an id")
        medias.append(media)
        when = parse_time(media.get("timestamp"))
        if ctx.too_old(when):
            continue
        images, videos = _pictures(media)
        yield Published(id=src.item_id(str(media["id"])), kind="post", channel="instagram",
                        text=str(media.get("caption") or ""), permalink=media.get("permalink"), image_urls=images,
                        published_at=when, unchecked=[video_note("a video or reel") for _ in range(videos)])

    def comments(media: dict[str, Any]) -> list[Published]:
        if media.get("comments_count") == 0:
            return []
        out = []
        link = media.get("permalink")
        url = f"{base}/{media['id']}/comments"
        for c in graph_list(ctx, url, {"fields": COMMENT_FIELDS, "limit": 50}):
            own = _is_own(c, user_id, username)
            if own and not ctx.too_old(parse_time(c.get("timestamp"))):
                out.append(_own(ctx, c, None, None, link))
            for r in edge(ctx, c, "replies"):
                if _is_own(r, user_id, username) and not ctx.too_old(parse_time(r.get("timestamp"))):
                    who = str(c.get("username") or (c.get("from") or {}).get("username") or "")
                    out.append(_own(ctx, r, str(c.get("text") or "") or None,
                                    None if own or not who else "@" + who.lstrip("@"), link))
        return out

    for found in ctx.http.map(comments, medias):
        yield from found


def _own(ctx: FetchContext, c: dict[str, Any], in_reply_to: str | None, author: str | None,
         link: str | None) -> Published:
    if "id" not in c:
        raise SourceError("unexpected answer from the Instagram Graph API: a comment without an id")
    return Published(id=ctx.source.item_id(str(c["id"])), kind="comment", channel="instagram",
                     text=str(c.get("text") or ""), in_reply_to=in_reply_to, author=author, permalink=link,
                     published_at=parse_time(c.get("timestamp")))


register(SourceType("instagram", fetch, required={"ig_user_id": "id"},
                    optional={"username": "str", "page_size": "int", "max_pages": "int"},
                    default_base=DEFAULT_BASE, uses_token=True))
