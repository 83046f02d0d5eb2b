"""Google Business Profile reviews (`accounts/{account_id}/locations/{location_id}/reviews`, API v4).

The owner's `reviewReply.comment` is what the spa published: it is judged as a reply, with the review's
`comment` as `in_reply_to` and `reviewer.displayName` as `author` (none for anonymous reviewers). Reviews
without a reply are context only and produce nothing. Paging follows `nextPageToken`.
The API gives no public link per review: `permalink_template` (with {review_id}, {account_id},
{location_id}) makes one, e.g. the location's Maps reviews page; otherwise the permalink is the review's
API resource URL. Config: `account_id`, `location_id`; `token_env` (OAuth access token); `base_url`."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._http import SourceError
from .base import FetchContext, Published, SourceType, as_list, parse_time, register

DEFAULT_BASE = "https://mybusiness.googleapis.com/v4"


def fetch(ctx: FetchContext) -> Iterator[Published]:
    src = ctx.source
    base = str(src.get("base_url") or DEFAULT_BASE).rstrip("/")
    account, location = str(src.get("account_id")), str(src.get("location_id"))
    url = f"{base}/accounts/{account}/locations/{location}/reviews"
    template = src.get("permalink_template")
    token: str | None = None
    seen: set[str] = set()
    pages = 0
    max_pages = int(src.get("max_pages", 1000))
    while True:
        params: dict[str, Any] = {"pageSize": int(src.get("page_size", 50)), "orderBy": "updateTime desc"}
        if token:
            params["pageToken"] = token
        body = ctx.http.json(url, params)
        pages += 1
        for review in as_list(body, "reviews", url):
            if not isinstance(review, dict):
                continue
            reply = review.get("reviewReply") or {}
            if not isinstance(reply, dict) or not str(reply.get("comment") or "").strip():
                continue  # nothing the spa published
            rid = str(review.get("reviewId") or str(review.get("name") or "").rsplit("/", 1)[-1])
            if not rid:
                raise SourceError(f"unexpected answer from {url}: a review without reviewId or name")
            when = parse_time(reply.get("updateTime"))
            if ctx.too_old(when):
                continue
            reviewer = review.get("reviewer") or {}
            author = None if reviewer.get("isAnonymous") else reviewer.get("displayName") or None
            link = (str(template).format(review_id=rid, account_id=account, location_id=location) if template
                    else f"{url}/{rid}")
            yield Published(id=src.item_id(rid), kind="reply", channel="google", text=str(reply["comment"]),
                            in_reply_to=str(review.get("comment") or "") or None, author=author, permalink=link,
                            published_at=when)
        token = body.get("nextPageToken") if isinstance(body, dict) else None
        if not token or token in seen:
            return
        if pages >= max_pages:
            ctx.warn(f"stopped after {max_pages} pages of reviews (max_pages)")
            return
        seen.add(str(token))


register(SourceType("google_business", fetch, required={"account_id": "id", "location_id": "id"},
                    optional={"permalink_template": "str", "page_size": "int", "max_pages": "int"},
                    default_base=DEFAULT_BASE, uses_token=True))
