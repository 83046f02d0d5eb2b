"""Streamlit entry point (`streamlit run dashboard/app.py`, started by `medspa-scan dashboard`): log-in (or
the session resumed from its signed cookie after a reload), then only the pages the user's role may see. The menu is a convenience; every page checks the role
again itself, so a marketing user who types a page's address still sees nothing of it."""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # _common, _explain; `scanner` is the installed package (editable in a checkout)
from _common import REVIEWERS, cookie_script, current_user, login_page, logout, store  # noqa: E402

from scanner.review import queue as review  # noqa: E402

st.set_page_config(page_title="MedSpa Compliance Scanner", page_icon=":material/shield:", layout="wide")
PAGES = HERE / "views"

who = current_user()
if who is None:
    nav = st.navigation([st.Page(login_page, title="Log in", icon=":material/login:", url_path="login")],
                       position="hidden")
else:
    name, role = who
    pages: dict[str, list] = {"Check": [
        st.Page(PAGES / "precheck.py", title="Pre-check", icon=":material/edit_note:", default=True),
        st.Page(PAGES / "rules.py", title="Rules", icon=":material/menu_book:")]}
    if role in REVIEWERS:
        open_items = sum(review.counts(store()).values())
        pages["Compliance"] = [
            st.Page(PAGES / "queue.py", title=f"Review queue ({open_items})" if open_items else "Review queue",
                    icon=":material/inbox:", url_path="queue"),
            st.Page(PAGES / "scans.py", title="Published scans", icon=":material/bar_chart:"),
            st.Page(PAGES / "registry.py", title="Registry", icon=":material/folder_shared:"),
            st.Page(PAGES / "audit.py", title="Audit log", icon=":material/receipt_long:")]
    if role == "admin":
        pages["Admin"] = [st.Page(PAGES / "users.py", title="Users", icon=":material/group:")]
    with st.sidebar:
        cookie_script()
        st.write(f"Signed in as **{name}** ({role})")
        if st.button("Log out", icon=":material/logout:", key="logout"):
            logout("You are logged out.")
            st.rerun()
    nav = st.navigation(pages)
nav.run()
