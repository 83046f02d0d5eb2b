"""Review queue (compliance, admin): pre-checks submitted, reply-gate decisions (API) and crawl findings,
filtered by source, channel, category, severity and date; open an item, then approve, reject, or mark a
finding as a false positive with a justification and an expiry. Every decision is stored and audit-logged
by `scanner.review`."""
from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import (
    REVIEWERS,
    finding_title,
    get_rule_pack,
    image_with_boxes,
    md,
    require,
    show_finding,
    store,
    text_box,
    verdict_badge,
)

from scanner import review
from scanner._models import CATEGORIES, CHANNELS

PAGE_SIZE = 25

user, role = require(*REVIEWERS)
st.title("Review queue")
if flash := st.session_state.pop("queue_flash", None):
    st.success(flash)

ALL = "all"
c1, c2, c3, c4 = st.columns(4)
source = c1.selectbox("Source", [ALL, *review.SOURCES], format_func=lambda s: review.SOURCES.get(s, s), key="q_source")
channel = c2.selectbox("Channel", [ALL, *CHANNELS], key="q_channel")
category = c3.selectbox("Category", [ALL, *CATEGORIES], key="q_category")
severity = c4.selectbox("Severity", [ALL, "high", "medium"], key="q_severity")
c5, c6, c7 = st.columns([1, 1, 2])
since = c5.date_input("From", value=date.today() - timedelta(days=90), key="q_since")
until = c6.date_input("To", value=date.today(), key="q_until")
status = c7.radio("Status", ["open", "approved", "rejected"], horizontal=True, key="q_status")

s = store()
items = review.queue(s, source=None if source == ALL else source, channel=None if channel == ALL else channel,
                     category=None if category == ALL else category, severity=None if severity == ALL else severity,
                     since=since, until=until, status=status)
pages = max(1, (len(items) + PAGE_SIZE - 1) // PAGE_SIZE)
page_no = st.number_input("Page", 1, pages, 1, key="q_page") if pages > 1 else 1
shown = items[(page_no - 1) * PAGE_SIZE: page_no * PAGE_SIZE]
st.caption(f"{len(items)} item(s){' (the newest ' + str(review.QUEUE_LIMIT) + ')' if len(items) >= review.QUEUE_LIMIT else ''}"
           f" · page {page_no} of {pages}")
if not items:
    st.info("Nothing here for these filters.")
pack = get_rule_pack()


def run_decision(fn: Any, *args: Any, flash: str) -> None:
    try:
        fn(*args)
    except review.ReviewError as exc:
        st.error(str(exc))
        return
    st.session_state["queue_flash"] = flash
    st.rerun()


def finding_controls(f: dict[str, Any]) -> None:
    fid = f["id"]
    if f.get("waived") and f.get("waiver"):
        w = f["waiver"]
        st.info(f"Waived as a false positive by {md(w['reviewer'])} until {w['expires_on'] or 'withdrawn'}: "
                f"{md(w['justification'])}")
        why = st.text_input("Reason to withdraw the waiver", key=f"unwaive-why-{fid}")
        if st.button("Withdraw waiver", key=f"unwaive-{fid}"):
            run_decision(review.unwaive, s, fid, user, why, flash="Waiver withdrawn; the finding counts again.")
        return
    if f["severity"] in ("info", "low") or f["category"] == "scan_incomplete":
        return
    with st.popover("Mark as false positive", icon=":material/do_not_disturb_on:"):
        just = st.text_input("Justification (why this is not a problem)", key=f"just-{fid}")
        until_d = st.date_input("Waiver expires", value=date.today() + timedelta(days=review.WAIVER_DAYS),
                                min_value=date.today() + timedelta(days=1),
                                max_value=date.today() + timedelta(days=review.MAX_WAIVER_DAYS), key=f"exp-{fid}")
        if st.button("Waive this finding", key=f"fp-{fid}", type="primary"):
            run_decision(review.waive, s, fid, user, just, until_d,
                         flash="Finding waived as a false positive (stored and audit-logged).")


for it in shown:
    eff = it["effective_verdict"]
    label = (f"{eff.upper()} · {review.SOURCES.get(it['source'], it['source'])} · {it['kind']}/{it['channel']} · "
             f"{md(it['id'])} · {it['created_at'].replace('T', ' ')}")
    with st.expander(label, icon=":material/report:" if eff == "block" else ":material/flag:"):
        verdict_badge(it["verdict"], eff)
        meta = [f"submitted by {md(it['submitted_by'])}" if it["submitted_by"] else "", f"rule pack {it['rule_pack']}",
                f"run {it['run']}"]
        st.caption(" · ".join(m for m in meta if m))
        if str(it["permalink"] or "").startswith(("https://", "http://")):
            st.link_button("Open the published item", it["permalink"], icon=":material/open_in_new:")
        if it["text"]:
            text_box(it["text"], it["findings"])
        if it["in_reply_to"]:
            st.markdown(f"**In reply to** {('(' + md(it['author']) + ')') if it['author'] else ''}")
            text_box(it["in_reply_to"], it["findings"], source="in_reply_to")
        for path in it["images"]:
            image_with_boxes(path, it["findings"])
        for n, f in enumerate(it["findings"], start=1):
            if f["severity"] == "info":
                continue
            st.markdown(f"**{finding_title(n, f)}**")
            show_finding(n, f, pack.get(f["rule_id"]), show_record=True)
            finding_controls(f)
        if it["suggested_text"]:
            st.markdown("**Suggested safe text**")
            st.code(it["suggested_text"], language=None, wrap_lines=True)
        past = review.history(s, it["pk"])
        if past:
            st.caption("History: " + "; ".join(f"{h['at'].replace('T', ' ')} {h['decision']} by {md(h['reviewer'])}"
                                                + (f" ({md(h['justification'])})" if h["justification"] else "")
                                                for h in past))
        if it["status"] == "open":
            need = " (needed to reject, and to approve while it is still blocked)"
            reason = st.text_input(f"Reason{need}", key=f"reason-{it['pk']}")
            b1, b2, _ = st.columns([1, 1, 4])
            if b1.button("Approve", key=f"approve-{it['pk']}", type="primary", icon=":material/check:"):
                run_decision(review.decide, s, it["pk"], "approve", user, reason, flash=f"Approved {md(it['id'])}.")
            if b2.button("Reject", key=f"reject-{it['pk']}", icon=":material/close:"):
                run_decision(review.decide, s, it["pk"], "reject", user, reason, flash=f"Rejected {md(it['id'])}.")
