"""Streamlit entry point: log-in, then the pages the user's role may see (each page checks again)."""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import COMPLIANCE, current_user, login_page, logout  # noqa: E402

st.set_page_config(page_title="MedSpa Compliance Scanner", page_icon=":material/shield:", layout="wide")
PAGES = Path(__file__).resolve().parent / "pages"

who = current_user()
if who is None:
    nav = st.navigation([st.Page(login_page, title="Log in", icon=":material/login:")])
else:
    name, role = who
    pages = [st.Page(PAGES / "precheck.py", title="Pre-check", icon=":material/edit_note:", default=True),
             st.Page(PAGES / "rules.py", title="Rules", icon=":material/menu_book:")]
    if role in COMPLIANCE:
        pages += [st.Page(PAGES / "queue.py", title="Review queue", icon=":material/inbox:"),
                  st.Page(PAGES / "scans.py", title="Published scans", icon=":material/bar_chart:"),
                  st.Page(PAGES / "registry.py", title="Registry", icon=":material/folder_shared:"),
                  st.Page(PAGES / "audit.py", title="Audit log", icon=":material/receipt_long:")]
    with st.sidebar:
        st.write(f"Signed in as **{name}** ({role})")
        if st.button("Log out"):
            logout()
            st.rerun()
    nav = st.navigation(pages)
nav.run()
