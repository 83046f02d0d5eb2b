"""Pre-check (every role), laid out like an inline writing checker: the draft form on the left; on the right
the verdict as one plain sentence, the draft with every problem highlighted, and the safe replacement with
a Copy button and "Use this text" (which checks it again at once). Below: one card per highlighted span
(rule ids, citations and the rule pack behind "Compliance details"), the image with its face boxes and
download buttons for a fixed copy, submitting for approval, and one's own submissions."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import ALL_ROLES, compact_top, copy_button, get_scanner, image_with_boxes, require, store
from _explain import cards, category_label, highlight, verdict_sentence

from scanner import Finding, Item
from scanner.core.models import CHANNELS, KINDS
from scanner.pipeline import disclosure
from scanner.review import queue as review
from scanner.review import retention

IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "heic", "heif"]
BANNER = {"block": st.error, "review": st.warning, "pass": st.success}
BANNER_ICON = {"block": ":material/block:", "review": ":material/flag:", "pass": ":material/check_circle:"}

user, role = require(*ALL_ROLES)
compact_top()
st.title("Pre-check a draft")

if "use_suggestion" in st.session_state:  # "Use this text": put it in the box and check it again at once
    st.session_state["draft_text"] = st.session_state.pop("use_suggestion")
    st.session_state["recheck"] = True

form_col, result_col = st.columns([2, 3], gap="large")
with form_col, st.form("precheck"):
    text = st.text_area("Draft text", height=140, key="draft_text",
                        placeholder="Paste the post, reply, comment or message exactly as it would go out")
    k1, k2 = st.columns(2)
    kind = k1.selectbox("Kind", KINDS, index=KINDS.index("reply"), key="draft_kind")
    channel = k2.selectbox("Channel", CHANNELS, index=CHANNELS.index("google"), key="draft_channel")
    reply_to = st.text_area("The review or comment it answers (optional)", height=68, key="draft_reply_to")
    author = st.text_input("Reviewer or recipient name (optional)", key="draft_author")
    upload = st.file_uploader("Image (optional)", type=IMAGE_TYPES, key="draft_image")
    checked = st.form_submit_button("Check", type="primary", icon=":material/fact_check:")


def save_upload() -> list[str]:
    """Keep the uploaded image beside the data (the reviewer sees it in the queue) under its own name,
    which the scanner also checks (a file called 'sarah-before.jpg' names a client)."""
    if upload is None:
        return []
    return [str(retention.save_upload(upload.getvalue(), upload.name))]  # sealed: never plain on disk


def run_check(images: list[str]) -> None:
    try:
        item = Item(id=review.new_precheck_id(), kind=kind, channel=channel, text=text,
                    in_reply_to=reply_to.strip() or None, author=author.strip() or None, images=images)
    except ValueError as exc:
        first = exc.errors()[0] if hasattr(exc, "errors") else {"msg": str(exc), "loc": ()}
        where = ".".join(str(x) for x in first.get("loc", ())) or "draft"
        result_col.error(f"Cannot check this draft ({where}): {first['msg']}")
        st.stop()
    t0 = time.perf_counter()
    result, pk = review.precheck(get_scanner(), store(), item, user)
    st.session_state["check_seconds"] = time.perf_counter() - t0
    shown = result if disclosure.may_see_registry(role) else disclosure.without_registry(result)
    st.session_state["last_check"] = {"item": item.model_dump(), "result": shown.public(), "pk": pk}
    st.session_state.pop("submitted_pk", None)


if checked:
    if not text.strip() and upload is None:
        result_col.error("Paste a draft or upload an image first.")
        st.stop()
    run_check(save_upload())
elif st.session_state.pop("recheck", False) and text.strip():
    previous = (st.session_state.get("last_check") or {}).get("item", {})
    run_check(list(previous.get("images", [])))


def image_fixes(path: str, findings: list[dict[str, Any]]) -> None:
    """Download buttons for a fixed copy of the image: without its metadata, with faces blurred."""
    from scanner.image import analysis as image_mod
    from scanner.image.metadata import strip_metadata

    p = Path(path)
    mine = [f for f in findings if f.get("source") == f"image:{p.name}" and f.get("severity") != "info"]
    if not p.is_file() or not mine:
        return
    stem = p.stem
    cols = st.columns(2)
    with tempfile.TemporaryDirectory(prefix="medspa-fix-") as tmp:
        if any(f["category"] == "image_metadata" for f in mine):
            try:
                out = strip_metadata(p, Path(tmp) / f"{stem}-clean{p.suffix.lower() or '.jpg'}")
                cols[0].download_button("Download without metadata", out.read_bytes(), file_name=out.name,
                                        icon=":material/download:", key=f"strip-{p.name}")
            except Exception:  # noqa: BLE001 - an image that cannot be rewritten simply gets no button
                cols[0].caption("This image cannot be rewritten without its metadata.")
        if any(f.get("box") and f["category"] in ("identifiable_image", "unauthorized_use", "image_text")
               for f in mine):
            try:
                out = image_mod.redact(p, Path(tmp) / f"{stem}-blurred.jpg",
                                       [Finding.model_validate({k: v for k, v in f.items()
                                                                if k in Finding.model_fields}) for f in findings])
                cols[1].download_button("Download with faces blurred", out.read_bytes(), file_name=out.name,
                                        icon=":material/blur_on:", key=f"blur-{p.name}")
            except Exception:  # noqa: BLE001
                cols[1].caption("This image cannot be blurred here.")


last = st.session_state.get("last_check")
with result_col:
    if not last:
        st.info("Paste a draft on the left and press **Check**. You will see what to fix and a safe version "
                "to copy.", icon=":material/lightbulb:")
    else:
        item_d, res, pk = last["item"], last["result"], last["pk"]
        findings, verdict = res["findings"], res["verdict"]
        card_list = cards(findings, item_d["text"], item_d.get("in_reply_to") or "")
        BANNER[verdict](verdict_sentence(verdict, findings), icon=BANNER_ICON[verdict])
        if item_d["text"]:
            st.markdown("<div style='border:1px solid #ddd;border-radius:6px;padding:8px 10px;line-height:1.6;"
                        "max-height:190px;overflow:auto' data-testid='draft-highlighted'>"
                        f"{highlight(item_d['text'], card_list)}</div>", unsafe_allow_html=True)
        suggestion = res.get("suggested_text")
        if suggestion and verdict != "pass":
            st.markdown("**Safe replacement**")
            st.markdown("<div style='border:1px solid #b2f2bb;background:#ebfbee;border-radius:6px;padding:8px 10px;"
                        "line-height:1.5' data-testid='safe-text'>" + suggestion.replace("&", "&amp;")
                        .replace("<", "&lt;").replace("\n", "<br>") + "</div>", unsafe_allow_html=True)
            b1, b2 = st.columns([1, 1])
            with b1:
                copy_button(suggestion)
            if b2.button("Use this text", type="primary", icon=":material/check:", key="use_suggested"):
                st.session_state["use_suggestion"] = suggestion
                st.rerun()
        elif verdict != "pass":
            st.caption("No safe version could be written automatically: rewrite the marked parts.")
        st.caption(f"Checked in {st.session_state.get('check_seconds', 0):.2f} s · {item_d['kind']} on "
                   f"{item_d['channel']}")

if last:
    item_d, res, pk = last["item"], last["result"], last["pk"]
    findings, verdict = res["findings"], res["verdict"]
    card_list = cards(findings, item_d["text"], item_d.get("in_reply_to") or "")
    if card_list:
        st.subheader("What to fix" if verdict != "pass" else "Tips")
    for card in card_list:
        with st.container(border=True):
            st.markdown(f"**{card.number}. {card.title.replace('*', '')}**")
            st.markdown(card.top["message"])
            if card.fix:
                st.markdown(f":green[**Instead:**] {card.fix}")
            with st.expander("Compliance details"):
                for f in card.findings:
                    bits = [f["rule_id"], category_label(f["category"]), f["severity"], f.get("citation", ""),
                            f"evidence “{f.get('evidence', '')}”" if f.get("evidence") else ""]
                    st.caption(" · ".join(b for b in bits if b))
                st.caption(f"Rule pack {res.get('rule_pack', '')}")
    if item_d.get("in_reply_to") and any(c.source == "in_reply_to" for c in card_list):
        st.markdown("**The review it answers**")
        st.markdown(f"<div style='border:1px solid #ddd;border-radius:6px;padding:8px 10px'>"
                    f"{highlight(item_d['in_reply_to'], card_list, 'in_reply_to')}</div>", unsafe_allow_html=True)
    for path in item_d.get("images", []):
        image_with_boxes(path, findings)
        image_fixes(path, findings)
    if st.session_state.get("submitted_pk") == pk:
        st.success("Submitted to the compliance review queue. You will see the decision below.")
    elif verdict != "pass":
        with st.expander("Need it as written? Submit it for approval"):
            note = st.text_input("Note for the reviewer (optional)", key="submit_note")
            if st.button("Submit for approval", icon=":material/send:"):
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
    table = pd.DataFrame(mine)
    table["submitted"] = table["submitted"].str.replace("T", " ")
    if not table["safe text"].astype(bool).any():  # the column only when something was sent back
        table = table.drop(columns=["safe text"])
    st.dataframe(table, hide_index=True, column_order=[c for c in ("submitted", "status", "reviewer", "reason",
                                                                    "safe text", "text", "verdict", "kind", "channel")
                                                       if c in table.columns],
                 column_config={"text": st.column_config.TextColumn("draft", width="large"),
                                "safe text": st.column_config.TextColumn("safe text to use", width="large")})
