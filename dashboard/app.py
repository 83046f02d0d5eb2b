"""Streamlit entry point: log-in, then the pages the user's role may see (each page checks again)."""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import COMPLIANCE, current_user, login_page, logout  # noqa: E402

st.set_page_config(page_title="MedSpa Compliance Scanner", page_icon="🛡️", layout="wide")
PAGES = Path(__file__).resolve().parent / "pages"

who = current_user()
if who is None:
    nav = st.navigation([st.Page(login_page, title="Log in", icon="🔐")])
else:
    name, role = who
    pages = [st.Page(PAGES / "precheck.py", title="Pre-check", icon="✍️", default=True),
             st.Page(PAGES / "rules.py", title="Rules", icon="📘")]
    if role in COMPLIANCE:
        pages += [st.Page(PAGES / "queue.py", title="Review queue", icon="📥"),
                  st.Page(PAGES / "scans.py", title="Published scans", icon="📊"),
                  st.Page(PAGES / "registry.py", title="Registry", icon="🗂️"),
                  st.Page(PAGES / "audit.py", title="Audit log", icon="🧾")]
    with st.sidebar:
        st.write(f"Signed in as **{name}** ({role})")
        if st.button("Log out"):
            logout()
            st.rerun()
    nav = st.navigation(pages)
nav.run()
