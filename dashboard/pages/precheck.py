"""Pre-check: paste a draft (or upload an image), see the verdict, every finding highlighted with its
fix, face boxes on the image and the suggested safe text; submit it for approval."""
from __future__ import annotations

import html
import sys
import tempfile
import time
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import ALL_ROLES, get_scanner, get_store, require, verdict_badge

from scanner import review
from scanner._models import CHANNELS, KINDS, Item

user, role = require(*ALL_ROLES)
st.title("Pre-check a draft")

col1, col2 = st.columns([2, 1])
with col1:
    text = st.text_area("Draft text", height=150, key="draft_text")
    reply_to = st.text_area("The review or comment it answers (optional)", height=80, key="draft_reply_to")
with col2:
    kind = st.selectbox("Kind", KINDS, index=KINDS.index("reply"), key="draft_kind")
    channel = st.selectbox("Channel", CHANNELS, index=CHANNELS.index("google"), key="draft_channel")
    author = st.text_input("Reviewer or recipient name (optional)", key="draft_author")
    upload = st.file_uploader("Image (optional)", type=["jpg", "jpeg", "png", "webp", "heic"])


def highlight(txt: str, findings: list) -> str:
    spans = sorted({(f.start, f.end) for f in findings if f.start is not None and f.source == "text"
                    and f.severity.value != "info"})
    out, pos = [], 0
    for s, e in spans:
        if s < pos:
            continue
        out.append(html.escape(txt[pos:s]))
        out.append(f"<mark style='background:#ffd6d6'>{html.escape(txt[s:e])}</mark>")
        pos = e
    out.append(html.escape(txt[pos:]))
    return "".join(out).replace("\n", "<br>")


if st.button("Check", type="primary"):
    if not text.strip() and upload is None:
        st.error("Paste a draft or upload an image first.")
        st.stop()
    images = []
    tmpdir = tempfile.mkdtemp(prefix="medspa-dash-")
    if upload is not None:
        p = Path(tmpdir) / Path(upload.name).name
        p.write_bytes(upload.getvalue())
        images.append(str(p))
    try:
        item = Item(id=f"precheck-{int(time.time())}", kind=kind, channel=channel, text=text,
                    in_reply_to=reply_to or None, author=author or None, images=images)
    except ValueError as exc:
        st.error(f"Cannot check this draft: {exc}")
        st.stop()
    t0 = time.perf_counter()
    result = get_scanner().scan(item)
    st.session_state["check_seconds"] = time.perf_counter() - t0
    store = get_store()
    run = store.start_run("dashboard", actor=user, rule_pack=result.rule_pack)
    pk = store.save_results(run, [(item, result)], source="dashboard", submitted_by=user)[0]
    store.finish_run(run, {"items": 1, result.verdict: 1})
    st.session_state["last_check"] = (item, result, pk)

if "last_check" in st.session_state:
    item, result, pk = st.session_state["last_check"]
    verdict_badge(result.verdict)
    st.caption(f"checked in {st.session_state.get('check_seconds', 0):.2f} s · rule pack {result.rule_pack}")
    if item.text:
        st.markdown(f"<div style='border:1px solid #ddd;padding:8px'>{highlight(item.text, result.findings)}</div>",
                    unsafe_allow_html=True)
    for f in result.findings:
        where = f" · “{f.evidence}”" if f.evidence else ""
        with st.expander(f"{f.severity.value.upper()} · {f.rule_id} · {f.category}{where}",
                         expanded=f.severity.value == "high"):
            st.write(f.message)
            if f.suggestion:
                st.write(f"**Fix:** {f.suggestion}")
            st.caption(f"Citation: {f.citation} · source: {f.source}")
    for path in item.images:
        if Path(path).exists():
            from PIL import Image, ImageDraw

            im = Image.open(path).convert("RGB")
            d = ImageDraw.Draw(im)
            for f in result.findings:
                if f.box and f.source == f"image:{Path(path).name}":
                    color = "green" if f.severity.value == "info" else "red"
                    d.rectangle(f.box, outline=color, width=max(3, im.width // 200))
            st.image(im, caption="Faces and text found in the image")
    if result.suggested_text:
        st.subheader("Suggested safe text")
        st.code(result.suggested_text, language=None, wrap_lines=True)
    if result.verdict != "pass" and st.button("Submit for approval"):
        review.decide(get_store(), pk, "submit", user)
        st.success("Submitted to the compliance review queue.")
