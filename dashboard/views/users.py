"""Users (admins only): who may log in and with which role; add a user, change a role, reset a password
(the user's open sessions end), disable or enable an account. Every change goes through
`scanner.accounts` / `scanner.sessions` and is audit-logged there with the admin as the actor."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # dashboard/ when a page runs alone
from _common import ALL_ROLES, compact_top, require, store

from scanner.review import accounts, sessions

user, role = require("admin")
compact_top()
st.title("Users")
if flash := st.session_state.pop("users_flash", None):
    st.success(flash)
s = store()
off = sessions.disabled(s)
people = accounts.list_users(s)
st.dataframe(pd.DataFrame([{"name": u["name"], "role": u["role"],
                            "status": "disabled" if u["name"] in off else "active",
                            "added": u["created_at"].replace("T", " ")[:16]} for u in people]),
             hide_index=True)


def done(message: str) -> None:
    st.session_state["users_flash"] = message
    st.rerun()


left, right = st.columns(2, gap="large")
with left, st.form("add_user", clear_on_submit=True):
    st.subheader("Add a user")
    name = st.text_input("User name", key="new_name")
    new_role = st.selectbox("Role", ALL_ROLES, key="new_role")
    pw1 = st.text_input("Password (8 characters or more)", type="password", key="new_pw1")
    pw2 = st.text_input("Password again", type="password", key="new_pw2")
    if st.form_submit_button("Add user", icon=":material/person_add:", type="primary"):
        if pw1 != pw2:
            st.error("The two passwords differ.")
        else:
            try:
                accounts.add_user(s, name, pw1, new_role, actor=user)
                done(f"Added {name.strip()} ({new_role}).")
            except accounts.AccountError as exc:
                st.error(str(exc))

with right:
    st.subheader("Change a user")
    who = st.selectbox("User", [u["name"] for u in people], index=None, placeholder="Choose a user", key="edit_user")
    if who is not None:
        current = next(u["role"] for u in people if u["name"] == who)
        r1, r2 = st.columns([2, 1], vertical_alignment="bottom")
        to_role = r1.selectbox("Role", ALL_ROLES, index=ALL_ROLES.index(current), key="edit_role")
        if r2.button("Change role", key="change_role", disabled=to_role == current):
            try:
                accounts.set_role(s, who, to_role, actor=user)
                done(f"{who} is now {to_role}.")
            except accounts.AccountError as exc:
                st.error(str(exc))
        p1, p2 = st.columns([2, 1], vertical_alignment="bottom")
        new_pw = p1.text_input("New password", type="password", key="reset_pw")
        if p2.button("Reset password", key="reset_password"):
            try:
                accounts.set_password(s, who, new_pw, actor=user)
                sessions.end_all(s, who)
                done(f"New password set for {who}; their open sessions ended.")
            except accounts.AccountError as exc:
                st.error(str(exc))
        if who in off:
            if st.button("Enable", key="enable_user", icon=":material/lock_open:"):
                sessions.set_disabled(s, who, False, actor=user)
                done(f"{who} can log in again.")
        elif st.button("Disable", key="disable_user", icon=":material/block:", disabled=who == user,
                       help="You cannot disable your own account." if who == user else None):
            try:
                sessions.set_disabled(s, who, True, actor=user)
                done(f"{who} is disabled and logged out.")
            except accounts.AccountError as exc:
                st.error(str(exc))
