"""Instagram professional account (Graph API): captions are judged as posts, the account's own
replies to comments as comments with the comment as context. Cursor paging via `paging.next`."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from . import Http, Published, parse_time, source_type
from .facebook import paged

FIELDS = ("id,caption,media_type,media_url,permalink,timestamp,username,"
          "comments{id,text,username,timestamp,replies{id,text,username,timestamp}}")


@source_type("instagram", ("ig_user_id",))
def fetch(cfg: dict[str, Any], http: Http, since: datetime | None) -> Iterator[Published]:
    base = cfg.get("base_url", "https://graph.facebook.com/v19.0").rstrip("/")
    params: dict[str, Any] = {"fields": FIELDS, "limit": 50}
    if since:
        params["since"] = int(since.timestamp())
    for media in paged(http, f"{base}/{cfg['ig_user_id']}/media", params):
        when = parse_time(media.get("timestamp"))
        if since and when and when < since:
            continue
        own = (media.get("username") or cfg.get("username") or "").lower()
        images = [media["media_url"]] if media.get("media_url") and media.get("media_type") != "VIDEO" else []
        yield Published(id=f"{cfg['name']}:{media['id']}", kind="post", channel="instagram",
                        text=media.get("caption", ""), permalink=media.get("permalink"), image_urls=images,
                        published_at=when)
        for comment in (media.get("comments") or {}).get("data", []):
            for reply in (comment.get("replies") or {}).get("data", []):
                if (reply.get("username") or "").lower() != own:
                    continue
                yield Published(id=f"{cfg['name']}:{reply['id']}", kind="comment", channel="instagram",
                                text=reply.get("text", ""), in_reply_to=comment.get("text", ""),
                                author="@" + (comment.get("username") or "").lstrip("@"),
                                permalink=media.get("permalink"), published_at=parse_time(reply.get("timestamp")))
