"""Review queue (compliance, admin), laid out like an approval inbox: one row per item with a preview of the
text, kind and channel, who submitted it and when, the note, the verdict colour and the age; sorted by risk
or age; tick rows to approve, reject or send back many at once with one reason. One item opens below the
table (and by its link, `?item=<id>`, which survives a reload): the text with its problems marked, the safe
text, history, and the actions, "send back with the safe text" first on a blocked item. Every decision is
stored and audit-logged by `scanner.review`."""
from __future__ import annotations

import html
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import REVIEWERS, compact_top, copy_button, get_scanner, image_with_boxes, md, require, store
from _explain import cards, category_label, counted, highlight, verdict_sentence

from scanner.core.models import CATEGORIES, CHANNELS
from scanner.review import queue as review

VERDICT_BG = {"block": "#ffc9c9", "review": "#ffe0a8", "pass": "#d3f9d8"}
RISK = {"block": 2, "review": 1, "pass": 0}
SORTS = {"risk": "Highest risk first", "oldest": "Oldest first", "newest": "Newest first"}
ALL = "all"

user, role = require(*REVIEWERS)
compact_top()
st.title("Review queue")
if flash := st.session_state.pop("queue_flash", None):
    st.success(flash)
s = store()

c1, c2, c3, c4, c5 = st.columns([1.9, 1, 1, 1.2, 1.2])
status = c1.radio("Status", ["open", "approved", "rejected"], horizontal=True, key="q_status")
source = c2.selectbox("Source", [ALL, *review.SOURCES], format_func=lambda x: review.SOURCES.get(x, x), key="q_source")
channel = c3.selectbox("Channel", [ALL, *CHANNELS], key="q_channel")
category = c4.selectbox("Problem", [ALL, *CATEGORIES], format_func=lambda x: x if x == ALL else category_label(x),
                        key="q_category")
sort = c5.selectbox("Sort", list(SORTS), format_func=SORTS.get, key="q_sort")
with st.expander("More filters"):
    m1, m2, m3 = st.columns(3)
    severity = m1.selectbox("Severity", [ALL, "high", "medium"], key="q_severity")
    since = m2.date_input("From", value=date.today() - timedelta(days=90), key="q_since")
    until = m3.date_input("To", value=date.today(), key="q_until")

items = review.queue_rows(s, source=None if source == ALL else source, channel=None if channel == ALL else channel,
                          category=None if category == ALL else category,
                          severity=None if severity == ALL else severity, since=since, until=until, status=status,
                          order=sort)  # with more than a page, the sort also picks which items make the page
if sort == "risk":
    items.sort(key=lambda it: (-RISK.get(it["effective_verdict"], 0), -sum(map(counted, it["findings"])),
                               it["submitted_at"]))
elif sort == "oldest":
    items.sort(key=lambda it: it["submitted_at"])
else:
    items.sort(key=lambda it: it["submitted_at"], reverse=True)


def age(stamp: str) -> str:
    secs = max(0.0, (datetime.now() - datetime.fromisoformat(stamp)).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if secs >= size:
            return f"{int(secs // size)} {unit}"
    return "now"


def preview(text: str, n: int = 90) -> str:
    one = " ".join((text or "").split())
    return one if len(one) <= n else one[: n - 1] + "…"


def top_problem(it: dict[str, Any]) -> str:
    live = [f for f in it["findings"] if counted(f)]
    cats = list(dict.fromkeys(f["category"] for f in live))
    return ", ".join(category_label(c) for c in cats[:2]) + (f" +{len(cats) - 2}" if len(cats) > 2 else "")


table = pd.DataFrame([{
    "verdict": it["effective_verdict"], "age": age(it["submitted_at"]), "text": preview(it["text"]),
    "kind / channel": f"{it['kind']} · {it['channel']}", "submitted by": it["submitted_by"] or "",
    "note": it["note"], "problem": top_problem(it), "source": review.SOURCES.get(it["source"], it["source"]),
    "submitted": it["submitted_at"].replace("T", " ")[:16], "link": f"?item={it['pk']}"} for it in items])
pks = [it["pk"] for it in items]

if not items:
    st.info("Nothing here for these filters.")
    selected: list[int] = []
else:
    t1, t2 = st.columns([3, 1])
    first = {"risk": "the riskiest", "oldest": "the oldest", "newest": "the newest"}[sort]
    t1.caption(f"{len(items)} item(s){f' ({first} {review.QUEUE_LIMIT})' if len(items) >= review.QUEUE_LIMIT else ''}"
               " · tick rows to decide on several at once, or tick one to open it")
    select_all = t2.toggle(f"Select all {len(items)}", key="q_all")
    event = st.dataframe(
        table.style.map(lambda v: f"background-color:{VERDICT_BG.get(v, '')}", subset=["verdict"]), hide_index=True, key=f"q_table-{status}-{select_all}", on_select="rerun", selection_mode="multi-row",
        selection_default={"selection": {"rows": list(range(len(items)))}} if select_all else None,
        height=min(38 + 35 * len(items), 420),
        column_config={"verdict": st.column_config.TextColumn("verdict", width=70),
                       "age": st.column_config.TextColumn("age", width=60),
                       "text": st.column_config.TextColumn("text", width=360),
                       "kind / channel": st.column_config.TextColumn("kind / channel", width=120),
                       "submitted by": st.column_config.TextColumn("submitted by", width=100),
                       "note": st.column_config.TextColumn("note", width=160),
                       "link": st.column_config.LinkColumn("open", display_text="open", width="small")})
    selected = [pks[i] for i in event.selection.rows if i < len(pks)]


def after(done: list[int], errors: list[tuple[int, str]], verb: str) -> None:
    if errors:
        for _, why in errors[:10]:
            st.error(why)
        if len(errors) > 10:
            st.error(f"… and {len(errors) - 10} more not {verb}.")
    if done:
        st.session_state["queue_flash"] = f"{verb.capitalize()} {len(done)} item(s)."
        st.query_params.pop("item", None)
        st.rerun()


if len(selected) > 1 and status == "open":
    with st.container(border=True):
        st.markdown(f"**{len(selected)} selected**")
        reason = st.text_input("One reason for all of them (needed to reject, and to approve blocked ones)",
                               key="bulk_reason")
        b1, b2, b3, _ = st.columns([1.2, 1.2, 1.8, 2])
        if b1.button(f"Approve {len(selected)}", key="bulk_approve", icon=":material/check:"):
            after(*review.decide_many(s, selected, "approve", user, reason), "approved")
        if b2.button(f"Reject {len(selected)}", key="bulk_reject", icon=":material/close:"):
            after(*review.decide_many(s, selected, "reject", user, reason), "rejected")
        if b3.button(f"Send {len(selected)} back with the safe text", key="bulk_send_back", icon=":material/reply:"):
            after(*review.decide_many(s, selected, "send_back", user, reason, scanner=get_scanner()), "sent back")

if len(selected) == 1:
    st.query_params["item"] = str(selected[0])
open_pk = selected[0] if len(selected) == 1 else None
if open_pk is None and not selected and str(st.query_params.get("item", "")).isdigit():
    open_pk = int(st.query_params["item"])


def finding_controls(f: dict[str, Any]) -> None:
    fid = f["id"]
    if f.get("waived") and f.get("waiver"):
        w = f["waiver"]
        st.info(f"Waived as a false positive by {md(w['reviewer'])} until {w['expires_on'] or 'withdrawn'}: "
                f"{md(w['justification'])}")
        why = st.text_input("Reason to withdraw the waiver", key=f"unwaive-why-{fid}")
        if st.button("Withdraw waiver", key=f"unwaive-{fid}"):
            decide_one(review.unwaive, s, fid, user, why, flash="Waiver withdrawn; the finding counts again.")
        return
    if f["severity"] in ("info", "low") or f["category"] == "scan_incomplete":
        return
    with st.popover(f"Not a problem? ({f['rule_id']})", icon=":material/do_not_disturb_on:"):
        just = st.text_input("Justification (why this is not a problem)", key=f"just-{fid}")
        until_d = st.date_input("Waiver expires", value=date.today() + timedelta(days=review.WAIVER_DAYS),
                                min_value=date.today() + timedelta(days=1),
                                max_value=date.today() + timedelta(days=review.MAX_WAIVER_DAYS), key=f"exp-{fid}")
        if st.button("Waive this finding", key=f"fp-{fid}", type="primary"):
            decide_one(review.waive, s, fid, user, just, until_d,
                       flash="Finding waived as a false positive (stored and audit-logged).")


def decide_one(fn: Any, *args: Any, flash: str) -> None:
    try:
        fn(*args)
    except review.ReviewError as exc:
        st.error(str(exc))
        return
    st.session_state["queue_flash"] = flash
    st.rerun()


def show_item(it: dict[str, Any]) -> None:
    eff = it["effective_verdict"]
    banner = {"block": st.error, "review": st.warning}.get(eff, st.success)
    banner(verdict_sentence(eff, it["findings"]))
    meta = [review.SOURCES.get(it["source"], it["source"]), f"{it['kind']} on {it['channel']}",
            f"submitted by {it['submitted_by']}" if it["submitted_by"] else "", it["submitted_at"].replace("T", " "),
            f"status {it['status']}", f"original verdict {it['verdict']}" if it["verdict"] != eff else ""]
    st.caption(" · ".join(md(m) for m in meta if m))
    if it["note"]:
        st.markdown(f"**Note from the submitter:** {md(it['note'])}")
    if str(it["permalink"] or "").startswith(("https://", "http://")):
        st.link_button("Open the published item", it["permalink"], icon=":material/open_in_new:")
    card_list = cards(it["findings"], it["text"], it["in_reply_to"] or "")
    left, right = st.columns([3, 2], gap="large")
    with left:
        if it["text"]:
            st.markdown("<div style='border:1px solid #ddd;border-radius:6px;padding:8px 10px;line-height:1.6'>"
                        f"{highlight(it['text'], card_list)}</div>", unsafe_allow_html=True)
        if it["in_reply_to"]:
            st.markdown(f"**In reply to** {('(' + md(it['author']) + ')') if it['author'] else ''}")
            st.markdown("<div style='border:1px solid #eee;border-radius:6px;padding:8px 10px'>"
                        f"{highlight(it['in_reply_to'], card_list, 'in_reply_to')}</div>", unsafe_allow_html=True)
        for path in it["images"]:
            image_with_boxes(path, it["findings"])
    with right:
        if it["suggested_text"] and it["status"] == "open":  # what would be sent back: checked first
            it["suggested_text"] = checked_safe_text(it)
        if it["suggested_text"]:
            st.markdown("**Safe text**")
            st.markdown("<div style='border:1px solid #b2f2bb;background:#ebfbee;border-radius:6px;padding:8px 10px'>"
                        + html.escape(it["suggested_text"]).replace("\n", "<br>") + "</div>", unsafe_allow_html=True)
            copy_button(it["suggested_text"])
        if it["status"] == "open":
            actions(it)
    for card in card_list:
        with st.container(border=True):
            st.markdown(f"**{card.number}. {md(card.title)}**  \n{card.top['message']}")
            if card.fix:
                st.caption(f"Instead: {card.fix}")
            for f in card.findings:
                finding_controls(f)
    for f in it["findings"]:
        if f.get("waived"):
            st.markdown(f"~~{md(f.get('evidence') or f['rule_id'])}~~ ({category_label(f['category'])})")
            finding_controls(f)
    past = review.history(s, it["pk"])
    if past:
        st.caption("History: " + "; ".join(f"{h['at'].replace('T', ' ')} {h['decision'].replace('_', ' ')} by "
                                            f"{md(h['reviewer'])}" + (f" ({md(h['justification'])})"
                                                                      if h["justification"] else "") for h in past))


def checked_safe_text(it: dict[str, Any]) -> str | None:
    """The item's safe text only if it passes the scanner (else the generic one for its kind, else none);
    remembered for this item while the page is open."""
    key = f"safe-text-{it['pk']}"
    if key not in st.session_state:
        st.session_state[key] = review.safe_text(get_scanner(), it)
    return st.session_state[key]


def actions(it: dict[str, Any]) -> None:
    pk, blocked = it["pk"], it["effective_verdict"] == "block"
    reason = st.text_input("Reason (needed to reject, and to approve while it is still blocked)", key=f"reason-{pk}")
    if it["suggested_text"] and st.button("Send back with the safe text", key=f"send-back-{pk}", icon=":material/reply:",
                                          type="primary" if blocked else "secondary", width="stretch"):
        after(*review.decide_many(s, [pk], "send_back", user, reason, scanner=get_scanner()), "sent back")
    b1, b2 = st.columns(2)
    if b1.button("Approve anyway" if blocked else "Approve", key=f"approve-{pk}", icon=":material/check:",
                 type="secondary" if blocked else "primary", width="stretch"):
        decide_one(review.decide, s, pk, "approve", user, reason, flash=f"Approved {md(it['id'])}.")
    if b2.button("Reject", key=f"reject-{pk}", icon=":material/close:", width="stretch"):
        decide_one(review.decide, s, pk, "reject", user, reason, flash=f"Rejected {md(it['id'])}.")


if open_pk is not None:
    it = review.get_item(s, open_pk)
    st.divider()
    if it is None:
        st.warning(f"Item {open_pk} does not exist.")
    else:
        show_item(it)
