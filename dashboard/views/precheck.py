"""Pre-check (every role): paste a draft or upload an image, choose kind, channel and the review it answers;
see the verdict, every finding highlighted in the text with its explanation and fix, the face boxes on the
image and the suggested safe text; submit the draft for approval; follow one's own submissions."""
from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import (
    ALL_ROLES,
    finding_title,
    get_rule_pack,
    get_scanner,
    image_with_boxes,
    require,
    show_finding,
    store,
    text_box,
    verdict_badge,
)

from scanner import config, review
from scanner._models import CHANNELS, KINDS, Item

IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "heic", "heif"]

user, role = require(*ALL_ROLES)
st.title("Pre-check a draft")
st.caption("Nothing is published from here. Check a draft, fix what is flagged, then submit it for approval.")

if "use_suggestion" in st.session_state:  # "Use the suggested text" was clicked: put it in the box
    st.session_state["draft_text"] = st.session_state.pop("use_suggestion")

with st.form("precheck"):
    col1, col2 = st.columns([2, 1])
    with col1:
        text = st.text_area("Draft text", height=150, key="draft_text",
                            placeholder="Paste the post, reply, comment or message exactly as it would go out")
        reply_to = st.text_area("The review or comment it answers (optional)", height=80, key="draft_reply_to")
    with col2:
        kind = st.selectbox("Kind", KINDS, index=KINDS.index("reply"), key="draft_kind")
        channel = st.selectbox("Channel", CHANNELS, index=CHANNELS.index("google"), key="draft_channel")
        author = st.text_input("Reviewer or recipient name (optional)", key="draft_author")
        upload = st.file_uploader("Image (optional)", type=IMAGE_TYPES, key="draft_image")
    checked = st.form_submit_button("Check", type="primary", icon=":material/fact_check:")


def save_upload() -> list[str]:
    """Keep the uploaded image beside the data (the reviewer sees it in the queue) under its own name,
    which the scanner also checks (a file called 'sarah-before.jpg' names a client)."""
    if upload is None:
        return []
    folder = config.home() / "uploads" / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (Path(upload.name).name or "upload")
    path.write_bytes(upload.getvalue())
    return [str(path)]


if checked:
    if not text.strip() and upload is None:
        st.error("Paste a draft or upload an image first.")
        st.stop()
    try:
        item = Item(id=review.new_precheck_id(), kind=kind, channel=channel, text=text,
                    in_reply_to=reply_to.strip() or None, author=author.strip() or None, images=save_upload())
    except ValueError as exc:
        first = exc.errors()[0] if hasattr(exc, "errors") else {"msg": str(exc), "loc": ()}
        where = ".".join(str(x) for x in first.get("loc", ())) or "draft"
        st.error(f"Cannot check this draft ({where}): {first['msg']}")
        st.stop()
    t0 = time.perf_counter()
    result, pk = review.precheck(get_scanner(), store(), item, user)
    st.session_state["check_seconds"] = time.perf_counter() - t0
    st.session_state["last_check"] = {"item": item.model_dump(), "result": result.public(), "pk": pk}
    st.session_state.pop("submitted_pk", None)

last = st.session_state.get("last_check")
if last:
    item_d, res, pk = last["item"], last["result"], last["pk"]
    findings = res["findings"]
    pack = get_rule_pack()
    verdict_badge(res["verdict"])
    st.caption(f"Checked in {st.session_state.get('check_seconds', 0):.2f} s · rule pack {res.get('rule_pack', '')} · "
               f"{item_d['kind']} on {item_d['channel']}")
    if res["verdict"] == "pass":
        st.success("Nothing to stop. Advisories, if any, are listed below.")
    if item_d["text"]:
        st.markdown("**Your draft** (numbers match the findings below; hover a mark for its rule)")
        text_box(item_d["text"], findings)
    if item_d.get("in_reply_to") and any(f.get("source") == "in_reply_to" for f in findings):
        st.markdown("**The review it answers**")
        text_box(item_d["in_reply_to"], findings, source="in_reply_to")
    if findings:
        st.subheader(f"Findings ({len(findings)})")
    for n, f in enumerate(findings, start=1):
        with st.expander(finding_title(n, f), expanded=f["severity"] in ("high", "medium")):
            show_finding(n, f, pack.get(f["rule_id"]))
    for path in item_d.get("images", []):
        image_with_boxes(path, findings)
    if res.get("suggested_text"):
        st.subheader("Suggested safe text")
        st.code(res["suggested_text"], language=None, wrap_lines=True)
        if st.button("Use the suggested text", key="use_suggested"):
            st.session_state["use_suggestion"] = res["suggested_text"]
            st.session_state.pop("last_check", None)
            st.rerun()
    if st.session_state.get("submitted_pk") == pk:
        st.success("Submitted to the compliance review queue. You will see the decision below.")
    elif res["verdict"] != "pass":
        note = st.text_input("Note for the reviewer (optional)", key="submit_note")
        if st.button("Submit for approval", type="primary", icon=":material/send:"):
            try:
                review.submit(store(), pk, user, note.strip())
                st.session_state["submitted_pk"] = pk
                st.rerun()
            except review.ReviewError as exc:
                st.error(str(exc))

mine = review.mine(store(), user)
if mine:
    st.divider()
    st.subheader("Your submissions")
    st.dataframe(pd.DataFrame(mine), hide_index=True,
                 column_config={"text": st.column_config.TextColumn("draft", width="large")})
