"""Google Business Profile reviews: the owner's `reviewReply` is judged as a reply; the review's
comment is its context and the reviewer's display name its author. Paging via `nextPageToken`."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from . import Http, Published, parse_time, source_type


@source_type("google_business", ("account_id", "location_id"))
def fetch(cfg: dict[str, Any], http: Http, since: datetime | None) -> Iterator[Published]:
    base = cfg.get("base_url", "https://mybusiness.googleapis.com/v4").rstrip("/")
    url = f"{base}/accounts/{cfg['account_id']}/locations/{cfg['location_id']}/reviews"
    token: str | None = None
    while True:
        params: dict[str, Any] = {"pageSize": 50}
        if token:
            params["pageToken"] = token
        body = http.json(url, params)
        for review in body.get("reviews", []):
            reply = review.get("reviewReply") or {}
            if not reply.get("comment"):
                continue
            when = parse_time(reply.get("updateTime") or review.get("updateTime"))
            if since and when and when < since:
                continue
            rid = review.get("reviewId") or review.get("name", "").rsplit("/", 1)[-1]
            yield Published(id=f"{cfg['name']}:{rid}", kind="reply", channel="google", text=reply["comment"],
                            in_reply_to=review.get("comment", ""),
                            author=(review.get("reviewer") or {}).get("displayName"),
                            permalink=review.get("reviewUrl") or f"{url}/{rid}", published_at=when)
        token = body.get("nextPageToken")
        if not token:
            return
