#!/usr/bin/env python3
"""Reply gate for Google reviews: post a drafted reply only when medspa-scan says `pass`.

    export MEDSPA_SCAN_URL=http://127.0.0.1:8080 MEDSPA_SCAN_API_KEY=msk_...   # medspa-scan serve / apikeys create
    export GOOGLE_ACCESS_TOKEN=ya29....                                         # OAuth token for the Business Profile API
    python examples/reply_gate.py --review-name accounts/123/locations/456/reviews/789 \\
        --review "Loved my lip filler with Dr. Kim!" --reviewer "Sarah K." \\
        --reply "Thanks Sarah! See you at your touch-up."

1. The draft goes to POST /v1/check as a Google `reply` (with the review it answers).
2. `pass`: the reply is posted (PUT {google}/{review-name}/reply). Exit 0.
3. `review` or `block`: nothing is posted; the findings and the scanner's `suggested_text` are shown.
   With --use-suggestion (or answering "y" at the prompt) the suggestion is checked again and posted
   only if it passes. Otherwise exit 1, and the draft waits in the dashboard's review queue.
4. Any error (scanner unreachable, bad key, rate limit, 5xx): nothing is posted. Exit 2. Fail closed.

Needs only `httpx`. --dry-run shows what would be posted without calling Google.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import httpx

GOOGLE_API = "https://mybusiness.googleapis.com/v4"


class GateError(Exception):
    """The reply could not be checked or posted; nothing was published."""


def check_reply(api: httpx.Client, reply: str, review: str | None, reviewer: str | None, review_id: str) -> dict[str, Any]:
    item = {"id": review_id, "kind": "reply", "channel": "google", "text": reply}
    if review:
        item["in_reply_to"] = review
    if reviewer:
        item["author"] = reviewer
    try:
        r = api.post("/v1/check", json=item)
    except httpx.HTTPError as exc:
        raise GateError(f"the scanner could not be reached ({type(exc).__name__})") from None
    if r.status_code != 200:
        try:
            detail = r.json().get("error", "")
        except ValueError:
            detail = r.text[:200]
        hint = f" (retry after {r.headers['retry-after']} s)" if r.status_code == 429 else ""
        raise GateError(f"the scanner answered {r.status_code}: {detail}{hint}")
    result = r.json()
    if result.get("verdict") not in ("pass", "review", "block"):
        raise GateError("the scanner's answer has no verdict")
    return result


def post_reply(google: httpx.Client, review_name: str, text: str) -> None:
    try:
        r = google.put(f"/{review_name.strip('/')}/reply", json={"comment": text})
    except httpx.HTTPError as exc:
        raise GateError(f"Google could not be reached ({type(exc).__name__})") from None
    if r.status_code >= 300:
        raise GateError(f"Google answered {r.status_code}; the reply was not posted")


def show_findings(result: dict[str, Any]) -> None:
    print(f"verdict: {result['verdict']} - the draft was NOT posted", file=sys.stderr)
    for f in result.get("findings", []):
        if f["severity"] in ("high", "medium"):
            print(f"  [{f['severity']}] {f['rule_id']}: {f['message']} (\"{f.get('evidence', '')}\")", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Post a Google review reply only when medspa-scan says it is safe.")
    p.add_argument("--review-name", required=True, help="accounts/{a}/locations/{l}/reviews/{r}")
    p.add_argument("--review", help="the review text the reply answers")
    p.add_argument("--reviewer", help="the reviewer's display name")
    p.add_argument("--reply", help="the drafted reply (default: read standard input)")
    p.add_argument("--use-suggestion", action="store_true",
                   help="if the draft is not safe, post the scanner's suggested text (after checking it too)")
    p.add_argument("--dry-run", action="store_true", help="check only; never call Google")
    p.add_argument("--api", default=os.environ.get("MEDSPA_SCAN_URL", "http://127.0.0.1:8080"))
    p.add_argument("--google-api", default=os.environ.get("GOOGLE_API_BASE", GOOGLE_API))
    args = p.parse_args(argv)

    reply = args.reply if args.reply is not None else sys.stdin.read()
    key = os.environ.get("MEDSPA_SCAN_API_KEY", "")
    token = os.environ.get("GOOGLE_ACCESS_TOKEN", "")
    if not key:
        print("reply_gate: set MEDSPA_SCAN_API_KEY (medspa-scan apikeys create NAME)", file=sys.stderr)
        return 2
    if not token and not args.dry_run:
        print("reply_gate: set GOOGLE_ACCESS_TOKEN, or use --dry-run", file=sys.stderr)
        return 2
    review_id = args.review_name.rstrip("/").rsplit("/", 1)[-1]

    api = httpx.Client(base_url=args.api, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    google = httpx.Client(base_url=args.google_api, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    try:
        result = check_reply(api, reply, args.review, args.reviewer, review_id)
        text = reply
        if result["verdict"] != "pass":
            show_findings(result)
            suggestion = result.get("suggested_text")
            if not suggestion:
                print("no safe rewrite was suggested; edit the reply and try again", file=sys.stderr)
                return 1
            print(f"suggested instead:\n  {suggestion}", file=sys.stderr)
            use = args.use_suggestion
            if not use and sys.stdin.isatty() and args.reply is not None:
                use = input("Post the suggested reply instead? [y/N] ").strip().lower() in ("y", "yes")
            if not use:
                return 1
            again = check_reply(api, suggestion, args.review, args.reviewer, review_id)
            if again["verdict"] != "pass":  # never post anything the gate has not passed
                show_findings(again)
                return 1
            text = suggestion
        if args.dry_run:
            print(f"would post (dry run): {text}")
            return 0
        post_reply(google, args.review_name, text)
        print(f"posted: {text}")
        return 0
    except GateError as exc:
        print(f"reply_gate: {exc}; nothing was posted", file=sys.stderr)
        return 2
    finally:
        api.close()
        google.close()


if __name__ == "__main__":
    sys.exit(main())
