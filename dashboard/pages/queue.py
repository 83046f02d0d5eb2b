"""Review queue: pre-checks submitted, reply-gate decisions and crawl findings; filter, open an item,
approve, reject, or mark a finding as a false positive with a justification (all audit-logged)."""
from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import COMPLIANCE, get_store, require

from scanner import review
from scanner._models import CATEGORIES, CHANNELS

user, role = require(*COMPLIANCE)
st.title("Review queue")
if flash := st.session_state.pop("queue_flash", None):
    st.success(flash)

c1, c2, c3, c4, c5 = st.columns(5)
source = c1.selectbox("Source", ["all", "dashboard", "api", "crawl", "cli"])
channel = c2.selectbox("Channel", ["all", *CHANNELS])
category = c3.selectbox("Category", ["all", *CATEGORIES])
severity = c4.selectbox("Severity", ["all", "high", "medium"])
since = c5.date_input("Since", value=date.today() - timedelta(days=30))
status = st.radio("Status", ["open", "approved", "rejected"], horizontal=True)

store = get_store()
items = review.queue(store, source=None if source == "all" else source, channel=None if channel == "all" else channel,
                     category=None if category == "all" else category, severity=None if severity == "all" else severity,
                     since=since, status=status)
st.caption(f"{len(items)} item(s)")
for it in items:
    label = f"{it['verdict'].upper()} · {it['kind']}/{it['channel']} · {it['source']} · {it['id']} · {it['created_at']}"
    with st.expander(label):
        st.write(it["text"])
        if it["in_reply_to"]:
            st.caption(f"In reply to: {it['in_reply_to']}")
        if it["permalink"]:
            st.markdown(f"[Open the published item]({it['permalink']})")
        for f in it["findings"]:
            if f["severity"] == "info":
                continue
            cols = st.columns([4, 2])
            cols[0].markdown(f"**{f['rule_id']}** {f['category']} ({f['severity']}) {'· waived' if f['waived'] else ''}"
                             f"  \n{f['message']}  \nEvidence: “{f.get('evidence', '')}”")
            if not f["waived"]:
                just = cols[1].text_input("Justification", key=f"just-{f['id']}")
                if cols[1].button("False positive", key=f"fp-{f['id']}"):
                    try:
                        review.waive(store, f["id"], user, just)
                        st.session_state["queue_flash"] = "Finding waived as a false positive and logged."
                        st.rerun()
                    except review.ReviewError as exc:
                        st.error(str(exc))
        if it["suggested_text"]:
            st.caption(f"Suggested: {it['suggested_text']}")
        if it["status"] == "open":
            reason = st.text_input("Reason (needed to reject)", key=f"reason-{it['pk']}")
            b1, b2 = st.columns(2)
            if b1.button("Approve", key=f"approve-{it['pk']}"):
                review.decide(store, it["pk"], "approve", user, reason)
                st.session_state["queue_flash"] = "Approved."
                st.rerun()
            if b2.button("Reject", key=f"reject-{it['pk']}"):
                try:
                    review.decide(store, it["pk"], "reject", user, reason)
                    st.session_state["queue_flash"] = "Rejected."
                    st.rerun()
                except review.ReviewError as exc:
                    st.error(str(exc))
