"""Facebook Page (Graph API): the page's posts are judged as posts; the page's own replies to comments
are judged as comments, with the public comment as context. Paging follows `paging.next`."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from . import Http, Published, parse_time, source_type

FIELDS = ("id,message,permalink_url,created_time,full_picture,"
          "comments.limit(100){id,message,from,created_time,comments.limit(100){id,message,from,created_time}}")


def paged(http: Http, url: str, params: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    """Every element of `data` across pages (`paging.next`), for Graph API list endpoints."""
    while url:
        body = http.json(url, params)
        params = None  # `next` already carries the query
        yield from body.get("data", [])
        url = (body.get("paging") or {}).get("next") or ""


@source_type("facebook_page", ("page_id",))
def fetch(cfg: dict[str, Any], http: Http, since: datetime | None) -> Iterator[Published]:
    base = cfg.get("base_url", "https://graph.facebook.com/v19.0").rstrip("/")
    page_id = str(cfg["page_id"])
    params: dict[str, Any] = {"fields": FIELDS, "limit": 50}
    if since:
        params["since"] = int(since.timestamp())
    for post in paged(http, f"{base}/{page_id}/posts", params):
        when = parse_time(post.get("created_time"))
        link = post.get("permalink_url")
        yield Published(id=f"{cfg['name']}:{post['id']}", kind="post", channel="facebook",
                        text=post.get("message", ""), permalink=link,
                        image_urls=[post["full_picture"]] if post.get("full_picture") else [], published_at=when)
        for comment in (post.get("comments") or {}).get("data", []):
            for reply in (comment.get("comments") or {}).get("data", []):
                if str((reply.get("from") or {}).get("id")) != page_id:
                    continue  # only the page's own replies are judged
                yield Published(id=f"{cfg['name']}:{reply['id']}", kind="comment", channel="facebook",
                                text=reply.get("message", ""), in_reply_to=comment.get("message", ""),
                                author=(comment.get("from") or {}).get("name"), permalink=link,
                                published_at=parse_time(reply.get("created_time")))
