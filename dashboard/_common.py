"""Shared dashboard plumbing: cached store and scanner (models load once per process), log-in,
session timeout and the per-page role check. No scanning logic lives in the dashboard."""
from __future__ import annotations

import os
import time

import streamlit as st

from scanner import accounts
from scanner.engine import Scanner
from scanner.store import Store

SESSION_MINUTES = float(os.environ.get("MEDSPA_SCAN_SESSION_MINUTES", "30"))
COMPLIANCE = ("compliance", "admin")
ALL_ROLES = ("marketing", "compliance", "admin")
VERDICT_COLOR = {"block": "red", "review": "orange", "pass": "green"}


@st.cache_resource
def get_store() -> Store:
    return Store()


@st.cache_resource
def get_scanner() -> Scanner:
    return Scanner(store=get_store())


def current_user() -> tuple[str, str] | None:
    """(name, role) of the logged-in user, or None; ends the session after SESSION_MINUTES idle."""
    user, role = st.session_state.get("user"), st.session_state.get("role")
    if not user:
        return None
    last = st.session_state.get("last_seen", 0.0)
    if time.time() - last > SESSION_MINUTES * 60:
        logout("Your session timed out; please log in again.")
        return None
    st.session_state["last_seen"] = time.time()
    return user, role


def logout(message: str | None = None) -> None:
    for k in ("user", "role", "last_seen"):
        st.session_state.pop(k, None)
    if message:
        st.session_state["flash"] = message


def require(*roles: str) -> tuple[str, str]:
    """Stop the page unless the user is logged in with one of ROLES (checked on every page)."""
    who = current_user()
    if who is None:
        st.warning("Please log in.")
        st.stop()
    assert who is not None
    if who[1] not in roles:
        st.error("You do not have access to this page.")
        st.stop()
    return who


def login_page() -> None:
    st.title("MedSpa Compliance Scanner")
    if msg := st.session_state.pop("flash", None):
        st.info(msg)
    with st.form("login"):
        name = st.text_input("User name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        try:
            role = accounts.authenticate(get_store(), name, password)
        except accounts.LockedOut as exc:
            st.error(str(exc))
            return
        if role is None:
            time.sleep(0.5)
            st.error("Wrong user name or password.")
            return
        st.session_state.update(user=name.strip(), role=role, last_seen=time.time())
        st.rerun()


def verdict_badge(verdict: str) -> None:
    st.markdown(f"### Verdict: :{VERDICT_COLOR.get(verdict, 'gray')}[{verdict.upper()}]")
